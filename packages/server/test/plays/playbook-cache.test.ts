import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DomainEventLog } from "../../src/services/events/log-reader.ts";
import { applyPlaybook } from "../../src/services/plays/playbook.ts";
import { PlaybookCache } from "../../src/services/plays/playbook-cache.ts";
import { accountOnPlan, useTestApi } from "../support/harness.ts";

/** The playbook in force held in memory, dropped when a version is applied here or on another node. */

const api = useTestApi();

const document = (play: string) => ({
  version: 1,
  plays: [
    {
      id: play,
      name: `Play ${play}`,
      trigger: { kind: "usage_ratio", feature: "api_calls", at: 0.8 },
      audience: { plans: ["starter"] },
      offer: { change: { kind: "next_plan" } },
      message: { title: "Upgrade to {{next_plan.name}}", body: "{{plan.name}} is full." },
    },
  ],
});

/** Applies a version as another node would: committed, its event in the log, this node not told. */
const applyElsewhere = (play: string) =>
  api.database.db.transaction((tx) => applyPlaybook(tx, { document: document(play) }, api.clock()));

const playsOf = async (cache: PlaybookCache) =>
  (await cache.inForce(api.database.db))?.plays.map((p) => p.id) ?? null;

describe("the playbook cache", () => {
  it("answers from memory until the log says a version was applied, then reads the new one", async () => {
    const cache = new PlaybookCache(api.database.db);
    const log = new DomainEventLog(api.database.db, 3_600_000);
    cache.follow(log);
    await log.start();
    try {
      expect(await playsOf(cache)).toBeNull();
      await applyElsewhere("first");
      // held in memory: another node's version is seen once this node reads the log
      expect(await playsOf(cache)).toBeNull();
      await log.poll();
      expect(await playsOf(cache)).toEqual(["first"]);

      await applyElsewhere("second");
      expect(await playsOf(cache)).toEqual(["first"]);
      await log.poll();
      expect(await playsOf(cache)).toEqual(["second"]);

      // a load begun before a version is applied is answered, but not kept past the invalidation
      const early = cache.inForce(api.database.db);
      cache.invalidate();
      await early;
      await applyElsewhere("third");
      await log.poll();
      expect(await playsOf(cache)).toEqual(["third"]);
    } finally {
      await log.close();
    }
  });

  it("inside a transaction with nothing held, reads through it and keeps nothing it read", async () => {
    const cache = new PlaybookCache(api.database.db);
    await api.database.db
      .transaction(async (tx) => {
        await applyPlaybook(tx, { document: document("uncommitted") }, api.clock());
        expect((await cache.inForce(tx))?.plays.map((p) => p.id)).toEqual(["uncommitted"]);
        tx.rollback();
      })
      .catch(() => {});
    expect(await playsOf(cache)).not.toEqual(["uncommitted"]);
  });

  it("over the API: an applied version is read by the very next request (read-your-writes)", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const user = `user-${randomBytes(4).toString("hex")}`;
    const made = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: `${user}@example.com`,
      role: "admin",
      user_id: user,
      status: "active",
    });
    expect(made.statusCode).toBe(201);
    const explain = (play: string) =>
      api.request("GET", `/v1/prompts/explain?account=${account}&user=${user}&play=${play}`);
    expect((await api.request("PUT", "/v1/playbook", document("api-one"))).statusCode).toBe(200);
    expect((await explain("api-one")).statusCode).toBe(200);
    expect((await api.request("PUT", "/v1/playbook", document("api-two"))).statusCode).toBe(200);
    expect((await explain("api-two")).statusCode).toBe(200);
    const gone = await explain("api-one");
    expect([gone.statusCode, gone.json().code]).toEqual([404, "resource_not_found"]);
  });
});
