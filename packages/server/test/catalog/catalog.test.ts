import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { useTestApi } from "../support/harness.ts";

const api = useTestApi({ catalog: false });
const demo = async () => parse(await readFile(DEMO_CATALOG_FILE, "utf8"));

describe("catalog as code over the API", () => {
  it("has no catalog before the first apply", async () => {
    const response = await api.request("GET", "/v1/catalog");
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe("catalog_not_applied");
  });

  it("applies a catalog, and applying it again changes nothing", async () => {
    const first = (await api.request("POST", "/v1/catalog", await demo())).json();
    expect(first).toMatchObject({ version: 1, changed: true });
    expect(first.changes).toContainEqual({ kind: "plan", key: "starter", change: "created", version: 1 });
    expect(first.changes).toContainEqual({ kind: "meter", key: "api_calls", change: "created", version: 1 });
    const again = (await api.request("POST", "/v1/catalog", await demo())).json();
    expect(again).toEqual({ version: 1, changed: false, changes: [] });
    const current = (await api.request("GET", "/v1/catalog")).json();
    expect(current.version).toBe(1);
    expect(current.plans.pro.grants).toMatchObject({
      projects: "unlimited",
      batch_export: true,
      api_calls: 100000,
    });
  });

  it("versions changed meters and plans, and archives what the file no longer has", async () => {
    const catalog = await demo();
    catalog.meters.api_calls.reset = "calendar_month";
    catalog.plans.pro.prices.month.base = 27900;
    delete catalog.add_ons.sso;
    catalog.plans.pro.description = "For growing teams";
    const result = (await api.request("POST", "/v1/catalog", catalog)).json();
    expect(result.version).toBe(2);
    expect(result.changes).toEqual(
      expect.arrayContaining([
        { kind: "meter", key: "api_calls", change: "new_version", version: 2 },
        { kind: "plan", key: "pro", change: "new_version", version: 2 },
        { kind: "add_on", key: "sso", change: "archived" },
      ]),
    );
    // Business extends Pro, but only grants are inherited: Pro's new price leaves Business as it was.
    expect(result.changes.some((c: { key: string }) => c.key === "business")).toBe(false);
    const account = (await api.request("POST", "/v1/accounts", { external_id: "c1", name: "C" })).json();
    const sso = await api.request("POST", "/v1/subscriptions", {
      account: account.id,
      plan: "pro",
      add_ons: [{ key: "sso" }],
    });
    expect(sso.json().code).toBe("unknown_add_on");
    const meters = await api.database.db.query.meters.findMany({
      where: (m, { eq }) => eq(m.key, "api_calls"),
    });
    expect(meters.map((m) => [m.version, m.archivedAt !== null])).toEqual([
      [1, true],
      [2, false],
    ]);
  });

  it("rejects an invalid catalog with every issue and its path, and applies nothing", async () => {
    const catalog = await demo();
    catalog.currency = "usx";
    catalog.plans.pro.extends = "ghost";
    const response = await api.request("POST", "/v1/catalog", catalog);
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: "invalid_catalog", errors: [{ param: "currency" }] });
    const cross = await demo();
    cross.plans.pro.extends = "ghost";
    cross.plans.free.grants.nothing = 3;
    const crossResponse = (await api.request("POST", "/v1/catalog", cross)).json();
    expect(crossResponse.errors).toEqual(
      expect.arrayContaining([
        { param: "plans.pro.extends", message: 'unknown plan "ghost"' },
        { param: "plans.free.grants.nothing", message: 'unknown feature "nothing"' },
      ]),
    );
    expect((await api.request("GET", "/v1/catalog")).json().version).toBe(2);
    const validated = (await api.request("POST", "/v1/catalog/validate", cross)).json();
    expect(validated.valid).toBe(false);
    expect(validated.issues).toHaveLength(2);
  });
});
