import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));
let dir: string;

/** Runs `uptier …` in a child process on an embedded database in a temporary directory. */
async function uptier(...args: string[]) {
  try {
    const { stdout, stderr } = await run(tsx, [cli, ...args], {
      env: { ...process.env, UPTIER_DATA_DIR: join(dir, "data"), DATABASE_URL: "" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "uptier-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Each case starts several child processes (tsx + PGlite cold starts), slow on a busy 2-core machine.
describe("uptier CLI", { timeout: 180_000 }, () => {
  it("validates a catalog file and reports each error with file, line, path and message", async () => {
    const ok = await uptier("catalog", "validate", DEMO_CATALOG_FILE);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("is valid: 9 features, 2 meters, 4 plans, 4 add-ons");

    const bad = join(dir, "bad.yaml");
    await writeFile(
      bad,
      [
        "currency: usd",
        "features:",
        "  calls: { kind: metered, name: Calls, meter: nowhere }",
        "plans:",
        "  a:",
        "    name: A",
        "    tier: 0",
        "    extends: b",
        "    prices: { month: { base: 100 } }",
        "    seats: { included: 1 }",
        "  b:",
        "    name: B",
        "    tier: 1",
        "    extends: a",
        "    prices: { month: { base: -5 } }",
        "    seats: { included: 1 }",
        "",
      ].join("\n"),
    );
    const result = await uptier("catalog", "validate", bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${bad}:15:`);
    expect(result.stderr).toMatch(/plans\.b\.prices\.month\.base: .*>=0/);

    const cyclic = join(dir, "cyclic.yaml");
    await writeFile(
      cyclic,
      [
        "currency: usd",
        "features:",
        "  calls: { kind: metered, name: Calls, meter: nowhere }",
        "plans:",
        "  a: { name: A, tier: 0, extends: b, prices: { month: { base: 100 } }, seats: { included: 1 } }",
        "  b: { name: B, tier: 1, extends: a, prices: { month: { base: 5 } }, seats: { included: 1 } }",
        "",
      ].join("\n"),
    );
    const cycle = await uptier("catalog", "validate", cyclic);
    expect(cycle.code).toBe(1);
    expect(cycle.stderr).toContain(`${cyclic}:3:`);
    expect(cycle.stderr).toContain('features.calls.meter: unknown meter "nowhere"');
    expect(cycle.stderr).toMatch(/plans\.a\.extends: plans extend each other in a cycle: a → b → a/);

    const syntax = join(dir, "syntax.yaml");
    await writeFile(syntax, "currency: usd\nfeatures: [unclosed\n");
    const broken = await uptier("catalog", "validate", syntax);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`${syntax}:`);
  });

  it("migrates, applies a catalog once (twice changes nothing), and manages keys", async () => {
    expect((await uptier("migrate")).stdout).toContain("Migrations applied (pglite)");
    const first = await uptier("catalog", "apply", DEMO_CATALOG_FILE);
    expect(first.stdout).toContain("Applied catalog version 1");
    expect(first.stdout).toContain("plan pro: created (v1)");
    const second = await uptier("catalog", "apply", DEMO_CATALOG_FILE);
    expect(second.stdout).toContain("No changes: the catalog is already version 1.");

    const created = await uptier("keys", "create", "--name", "ci");
    const [, id] = created.stdout.match(/Created (key_\S+)/) ?? [];
    const secret = created.stdout.trim().split("\n").at(-1) ?? "";
    expect(secret).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    const listed = await uptier("keys", "list");
    expect(listed.stdout).toContain(`${id}\t${secret.slice(0, 10)}…\tci\tactive`);
    expect(listed.stdout).not.toContain(secret);
    expect((await uptier("keys", "revoke", id as string)).stdout).toContain(`Revoked ${id}`);
    expect((await uptier("keys", "list")).stdout).toMatch(new RegExp(`${id}.*revoked`));
    expect((await uptier("keys", "revoke", "key_nope")).code).toBe(1);
  });
});
