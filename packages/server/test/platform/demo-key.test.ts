import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { apiKeys } from "../../src/db/schema/index.ts";
import { ensureDemoKey } from "../../src/demo/demo-key.ts";
import { hashKey, listKeys, revokeKey } from "../../src/services/accounts/api-keys.ts";
import { openTestDatabase } from "../support/harness.ts";

let database: Awaited<ReturnType<typeof openTestDatabase>>;
let dir: string;
const now = new Date("2026-01-16T12:00:00Z");

beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(async () => {
  await database?.close();
  await database?.dropDatabase();
});
beforeEach(async () => {
  await database.db.delete(apiKeys);
  dir = await mkdtemp(join(tmpdir(), "uptier-demo-key-"));
  return () => rm(dir, { recursive: true, force: true });
});

/** The data directory of a fresh clone: `.uptier/data`, neither of which exists yet. */
const dataDir = () => join(dir, ".uptier", "data");
const keyFile = () => join(dir, ".uptier", "demo-secret-key");

/** Whether the key is stored and not revoked. */
async function live(secret: string): Promise<boolean> {
  const [row] = await database.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.hash, hashKey(secret)));
  return row !== undefined && row.revokedAt === null;
}

describe("the demo key", () => {
  it("on a fresh clone: makes the folder, saves the key (0600) and stores only its hash", async () => {
    const key = await ensureDemoKey(database.db, dataDir(), now);
    expect(key).toEqual({ secret: expect.stringMatching(/^sk_[\w-]{32}$/), file: keyFile(), unsaved: null });
    expect(await readFile(keyFile(), "utf8")).toBe(`${key.secret}\n`);
    expect((await stat(keyFile())).mode & 0o777).toBe(0o600);
    expect(await live(key.secret)).toBe(true);
    expect(await readdir(join(dir, ".uptier"))).toEqual(["demo-secret-key"]);
  });

  it("is the same key on every start", async () => {
    const first = await ensureDemoKey(database.db, dataDir(), now);
    const again = await ensureDemoKey(database.db, dataDir(), now);
    expect(again.secret).toBe(first.secret);
    expect(await listKeys(database.db)).toHaveLength(1);
  });

  it("stores a saved key this database has never seen (a new database, or a start stopped before storing it)", async () => {
    const first = await ensureDemoKey(database.db, dataDir(), now);
    await database.db.delete(apiKeys);
    const again = await ensureDemoKey(database.db, dataDir(), now);
    expect(again).toEqual(first);
    expect(await live(first.secret)).toBe(true);
  });

  it("replaces a revoked key, in the database and in the file", async () => {
    const first = await ensureDemoKey(database.db, dataDir(), now);
    const [stored] = await listKeys(database.db);
    await revokeKey(database.db, stored?.id as string, now);
    const next = await ensureDemoKey(database.db, dataDir(), now);
    expect(next.secret).not.toBe(first.secret);
    expect(await live(next.secret)).toBe(true);
    expect(await live(first.secret)).toBe(false);
    expect((await readFile(keyFile(), "utf8")).trim()).toBe(next.secret);
  });

  it("replaces a file that holds no key", async () => {
    await mkdir(join(dir, ".uptier"));
    await writeFile(keyFile(), "not a key\n");
    const key = await ensureDemoKey(database.db, dataDir(), now);
    expect((await readFile(keyFile(), "utf8")).trim()).toBe(key.secret);
    expect(await live(key.secret)).toBe(true);
  });

  it("when the file cannot be written: still a working key, said to be unsaved, and no stray file", async () => {
    // a directory where the file should be: it can be neither read nor replaced
    await mkdir(keyFile(), { recursive: true });
    const key = await ensureDemoKey(database.db, dataDir(), now);
    expect(key.unsaved).toMatch(/EISDIR|directory/i);
    expect(await live(key.secret)).toBe(true);
    expect(await readdir(join(dir, ".uptier"))).toEqual(["demo-secret-key"]);
  });
});
