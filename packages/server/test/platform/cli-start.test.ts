import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { adminQuery, POSTGRES_URL, TEST_ENGINE } from "../support/harness.ts";

const cli = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

const directories: string[] = [];
const databases: string[] = [];

/** A fresh, empty working directory: a clone where Uptier never ran (no .uptier folder). */
async function freshDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "uptier-start-"));
  directories.push(dir);
  return dir;
}

/**
 * A database of its own: on PostgreSQL a new, empty one (DATABASE_URL, as a user starting Uptier on
 * their own server); on the embedded engine the default data directory under the working directory.
 */
async function freshDatabase(): Promise<Record<string, string>> {
  if (TEST_ENGINE === "pglite") return { DATABASE_URL: "" };
  const name = `uptier_start_${randomBytes(6).toString("hex")}`;
  await adminQuery(`create database ${name}`);
  databases.push(name);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { DATABASE_URL: url.toString() };
}

interface Started {
  readonly process: ChildProcess;
  readonly address: string;
  readonly key: string;
  readonly output: string;
}

/** `uptier start --demo` in `cwd`, up to the printed key; the environment is the user's, not the tests'. */
function start(cwd: string, database: Record<string, string>): Promise<Started> {
  const env: Record<string, string | undefined> = { ...process.env, ...database };
  for (const name of Object.keys(env)) if (name.startsWith("UPTIER_")) delete env[name];
  Object.assign(env, { PORT: "0", LOG_LEVEL: "silent", UPTIER_JOBS: "off" });
  const child = spawn(tsx, [cli, "start", "--demo"], { cwd, env });
  let output = "";
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const address = /Uptier is running at (http:\/\/\S+)/.exec(output)?.[1];
      const key = /Demo secret key: (sk_\S+)/.exec(output)?.[1];
      if (address && key && output.includes("Try:")) resolve({ process: child, address, key, output });
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`uptier start exited with ${code}:\n${output}`)));
  });
}

async function stop(started: Started): Promise<void> {
  const exited = new Promise((resolve) => started.process.once("exit", resolve));
  started.process.kill("SIGTERM");
  await exited;
}

/** The demo's accounts, read with the printed key. */
async function accountsWith(started: Started, key = started.key) {
  const response = await fetch(`${started.address}/v1/accounts?limit=2`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as { data?: unknown[] } };
}

afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
  for (const name of databases) await adminQuery(`drop database if exists ${name} with (force)`);
});

// Starts the CLI twice (tsx, migrations, the demo seed once): slow on a busy machine. The other
// paths of the demo key are in demo-key.test.ts.
describe(`uptier start --demo from a fresh clone (${TEST_ENGINE})`, { timeout: 600_000 }, () => {
  it("prints a key that works, keeps it in .uptier, and prints the same one on the next start", async () => {
    const cwd = await freshDirectory();
    const database = await freshDatabase();
    expect(await readdir(cwd)).toEqual([]);

    const first = await start(cwd, database);
    expect(first.output).toContain("Seeded 300 demo accounts.");
    expect(first.output).not.toContain("not saved");
    // the demo playbook is applied with the demo catalog, and named among the startup lines
    expect(first.output).toContain("Playbook: version 1, 20 plays (catalog version 1)");
    const listed = await accountsWith(first);
    expect(listed.status).toBe(200);
    expect(listed.body.data).toHaveLength(2);
    expect((await accountsWith(first, `${first.key}x`)).status).toBe(401);
    await stop(first);

    const file = join(cwd, ".uptier", "demo-secret-key");
    expect((await readFile(file, "utf8")).trim()).toBe(first.key);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const second = await start(cwd, database);
    expect(second.key).toBe(first.key);
    expect(second.output).not.toContain("Seeded");
    expect(second.output).toContain("Playbook: version 1, 20 plays");
    expect((await accountsWith(second)).status).toBe(200);
    await stop(second);
  });
});
