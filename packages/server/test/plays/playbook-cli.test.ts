import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/client.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { currentPlaybook } from "../../src/services/plays/playbook.ts";
import { useUptierCli } from "../support/cli-harness.ts";

/**
 * `uptier playbook validate|apply` in a child process, on a database of the test's own (PGlite, or
 * PostgreSQL with UPTIER_TEST_DB=postgres), with playbook files in a temporary folder.
 */
const cli = useUptierCli("uptier-playbook-cli-");
let broken: string;
let brokenLine: number;
let database: Database | undefined;

beforeAll(async () => {
  const text = await readFile(DEMO_PLAYBOOK_FILE, "utf8");
  const edited = text.replace("feature: api_calls, at: 0.8", "feature: api_callz, at: 0.8");
  brokenLine = edited.split("\n").findIndex((line) => line.includes("api_callz")) + 1;
  broken = join(cli.env.UPTIER_DATA_DIR as string, "..", "broken.playbook.yaml");
  await writeFile(broken, edited);
});
afterAll(async () => {
  await database?.close();
});

// a child process per command (tsx + database start), slow on a busy 2-core machine
describe("uptier playbook … in a child process", { timeout: 180_000 }, () => {
  it("validates against a catalog file, naming each issue at file:line:col, exit 1", async () => {
    const bad = await cli.run("playbook", "validate", broken, "--catalog", DEMO_CATALOG_FILE);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      new RegExp(
        `${broken.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${brokenLine}:\\d+: plays\\[0\\]\\.trigger\\.feature: .*api_callz`,
      ),
    );
    const good = await cli.run("playbook", "validate", DEMO_PLAYBOOK_FILE, "--catalog", DEMO_CATALOG_FILE);
    expect(good).toMatchObject({ code: 0, stdout: expect.stringContaining("is valid: 20 plays") });
  });

  it("refuses to apply before a catalog is in force, then applies once a catalog is", async () => {
    const early = await cli.run("playbook", "apply", DEMO_PLAYBOOK_FILE);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("No catalog has been applied yet");

    expect((await cli.run("catalog", "apply", DEMO_CATALOG_FILE)).code).toBe(0);
    const invalid = await cli.run("playbook", "apply", broken);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain(`${broken}:${brokenLine}:`);
    const checked = await cli.run("playbook", "validate", broken);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`${broken}:${brokenLine}:`);

    const applied = await cli.run("playbook", "apply", DEMO_PLAYBOOK_FILE);
    expect(applied).toMatchObject({
      code: 0,
      stdout: "Applied playbook version 1: 20 plays, against catalog version 1.\n",
    });
    const again = await cli.run("playbook", "apply", DEMO_PLAYBOOK_FILE);
    expect(again.stdout).toBe("No changes: the playbook is already version 1.\n");

    database = await cli.openDatabase();
    const current = await currentPlaybook(database.db);
    expect(current).toMatchObject({ version: 1, catalogVersion: 1 });
    expect(current?.source).toBe(await readFile(DEMO_PLAYBOOK_FILE, "utf8"));
  });
});
