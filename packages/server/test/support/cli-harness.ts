import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { type Database, openDatabase } from "../../src/db/client.ts";
import { createPostgresDatabase, TEST_ENGINE } from "./harness.ts";

const execFileAsync = promisify(execFile);
const cli = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

export interface UptierCli {
  /** the child's environment: its data directory (PGlite), or its own database (PostgreSQL) */
  readonly env: NodeJS.ProcessEnv;
  /** `uptier …` in a child process, with `env` plus `extra`; rejects as execFile does on a non-zero exit */
  exec(args: readonly string[], extra?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }>;
  /** `uptier …` in a child process, answered with its exit code whatever it is */
  run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Opens the database the child process opens, the same way it does. */
  openDatabase(): Promise<Database>;
}

/**
 * The `uptier` command in child processes (tsx), on a database of the test's own: a PGlite data
 * directory in a temporary folder or, with UPTIER_TEST_DB=postgres, a PostgreSQL database made
 * before the tests and dropped after them (the hooks are registered where this is called).
 */
export function useUptierCli(prefix: string): UptierCli {
  let dir = "";
  let env: NodeJS.ProcessEnv = {};
  let dropDatabase = async () => {};
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    env = { ...process.env, UPTIER_DATA_DIR: join(dir, "data"), DATABASE_URL: "", LOG_LEVEL: "silent" };
    if (TEST_ENGINE === "postgres") {
      const created = await createPostgresDatabase();
      dropDatabase = created.drop;
      env.DATABASE_URL = created.url;
    }
  });
  afterAll(async () => {
    await dropDatabase();
    await rm(dir, { recursive: true, force: true });
  });
  const exec = (args: readonly string[], extra: NodeJS.ProcessEnv = {}) =>
    execFileAsync(tsx, [cli, ...args], { env: { ...env, ...extra } });
  return {
    get env() {
      return env;
    },
    exec,
    async run(...args) {
      try {
        const { stdout, stderr } = await exec(args);
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    },
    openDatabase() {
      if (TEST_ENGINE === "pglite") return openDatabase({ dataDir: join(dir, "data") });
      return openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: "" });
    },
  };
}
