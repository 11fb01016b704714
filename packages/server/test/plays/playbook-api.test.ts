import { readFile } from "node:fs/promises";
import { desc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { domainEvents } from "../../src/db/schema/index.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { tableSnapshot, useTestApi } from "../support/harness.ts";

const api = useTestApi();
let demoText: string;
beforeAll(async () => {
  demoText = await readFile(DEMO_PLAYBOOK_FILE, "utf8");
});

const yaml = (method: "PUT" | "POST", url: string, text: string, type = "application/yaml") =>
  api.request(method, url, text, { "content-type": type });

const play = (id: string, trigger: Record<string, unknown>) => ({
  id,
  name: `Play ${id}`,
  trigger,
  audience: { plans: ["starter"] },
  offer: { change: { kind: "next_plan" } },
  message: { title: "Upgrade to {{next_plan.name}}", body: "{{plan.name}} is full." },
});

const playbookEvents = () =>
  api.database.db
    .select()
    .from(domainEvents)
    .where(eq(domainEvents.type, "playbook.applied"))
    .orderBy(desc(domainEvents.createdAt));

describe("the playbook over the API", () => {
  it("answers 404 playbook_not_found before any playbook is applied", async () => {
    const response = await api.request("GET", "/v1/playbook");
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: "playbook_not_found" });
  });

  it("refuses YAML with errors whole: 422 with every issue at its line and column, nothing stored", async () => {
    const before = await tableSnapshot(api.database);
    const broken = demoText
      .replace(
        "trigger: { kind: usage_ratio, feature: api_calls, at: 0.8 }",
        "trigger: { kind: usage_ratio, feature: api_callz, at: 0.8 }",
      )
      .replace('title: "You have {{usage.left}}', 'title: "You have {{usage.leftover}}');
    expect(broken).not.toBe(demoText);
    const response = await yaml("PUT", "/v1/playbook", broken);
    expect(response.statusCode).toBe(422);
    const problem = response.json();
    expect(problem.code).toBe("playbook_invalid");
    const lines = broken.split("\n");
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    expect(problem.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          path: "plays[0].trigger.feature",
          line: lineOf("feature: api_callz"),
          message: expect.stringContaining("api_callz"),
        }),
        expect.objectContaining({
          path: "plays[1].message.title",
          line: lineOf("{{usage.leftover}}"),
        }),
      ]),
    );
    for (const issue of problem.issues) expect(issue.column).toBeGreaterThan(0);
    expect(problem.errors[0]).toEqual({ param: problem.issues[0].path, message: problem.issues[0].message });
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("points a YAML syntax error at its line", async () => {
    const response = await yaml("PUT", "/v1/playbook", "version: 1\nplays: [\n  { id: a\n");
    expect(response.statusCode).toBe(422);
    expect(response.json().issues[0]).toMatchObject({ path: "(syntax)", line: expect.any(Number) });
  });

  it("refuses a JSON document naming a feature the catalog does not have, with its path", async () => {
    const before = await tableSnapshot(api.database);
    const response = await api.request("PUT", "/v1/playbook", {
      version: 1,
      plays: [
        play("ok", { kind: "limit_reached", feature: "api_calls" }),
        play("bad", { kind: "limit_reached", feature: "warp_drive" }),
      ],
    });
    expect(response.statusCode).toBe(422);
    const { issues } = response.json();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: "plays[1].trigger.feature",
      message: expect.stringContaining("warp_drive"),
    });
    expect(issues[0].line).toBeUndefined();
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("validates without applying: the issues, or valid", async () => {
    const before = await tableSnapshot(api.database);
    const bad = await api.request("POST", "/v1/playbook/validate", { version: 1, plays: [{ id: "x" }] });
    expect(bad.statusCode).toBe(200);
    expect(bad.json().valid).toBe(false);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toContain("plays[0].name");
    const good = await yaml("POST", "/v1/playbook/validate", demoText, "text/yaml; charset=utf-8");
    expect(good.json()).toEqual({ valid: true, issues: [] });
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("refuses a text body that is not YAML's media type, and a JSON body that is not an object", async () => {
    const before = await tableSnapshot(api.database);
    expect((await yaml("PUT", "/v1/playbook", demoText, "text/plain")).statusCode).toBe(415);
    const text = await yaml("PUT", "/v1/playbook", JSON.stringify(demoText), "application/json");
    expect(text.statusCode).toBe(400);
    expect(text.json()).toMatchObject({ code: "invalid_request", param: "(body)" });
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("is listed in the OpenAPI document, taking JSON or YAML", async () => {
    const spec = (await api.app.inject({ url: "/openapi.json" })).json();
    const put = spec.paths["/v1/playbook"].put;
    expect(Object.keys(put.requestBody.content)).toEqual([
      "application/json",
      "application/yaml",
      "text/yaml",
    ]);
    expect(put.responses["200"].content["application/json"].schema.$ref).toBe(
      "#/components/schemas/PlaybookApplied",
    );
    expect(spec.paths["/v1/playbook"].get).toBeDefined();
    expect(spec.paths["/v1/playbook/validate"].post).toBeDefined();
    expect(spec.components.schemas).toHaveProperty("PlaybookIssue");
  });

  it("applies YAML as version 1, reads it back, and records playbook.applied", async () => {
    const response = await yaml("PUT", "/v1/playbook", demoText);
    expect(response.statusCode).toBe(200);
    const applied = response.json();
    expect(applied).toMatchObject({
      object: "playbook",
      version: 1,
      catalog_version: 1,
      changed: true,
      source: demoText,
    });
    expect(applied.playbook.plays).toHaveLength(20);
    // defaults are filled in: the stored document is the validated one
    expect(applied.playbook.plays[0]).toMatchObject({ id: "usage-80", enabled: true, follow_ups: [] });

    const current = await api.request("GET", "/v1/playbook");
    expect(current.statusCode).toBe(200);
    const { changed: _, ...stored } = applied;
    expect(current.json()).toEqual(stored);

    const [event] = await playbookEvents();
    expect(event?.data).toEqual({
      version: 1,
      catalog_version: 1,
      plays: applied.playbook.plays.map((p: { id: string }) => p.id),
    });
  });

  it("applies an identical document as a no-op, whether sent as YAML or as its JSON", async () => {
    const before = await tableSnapshot(api.database);
    const again = await yaml("PUT", "/v1/playbook", demoText);
    expect(again.json()).toMatchObject({ version: 1, changed: false });
    const current = (await api.request("GET", "/v1/playbook")).json();
    const asJson = await api.request("PUT", "/v1/playbook", current.playbook);
    expect(asJson.statusCode).toBe(200);
    expect(asJson.json()).toMatchObject({ version: 1, changed: false, source: demoText });
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("applies a changed document as the next version, which is then in force", async () => {
    const response = await api.request("PUT", "/v1/playbook", {
      version: 1,
      plays: [play("api-limit", { kind: "limit_reached", feature: "api_calls" })],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ version: 2, changed: true, source: null });
    const current = (await api.request("GET", "/v1/playbook")).json();
    expect(current).toMatchObject({ version: 2, catalog_version: 1 });
    expect(current.playbook.plays.map((p: { id: string }) => p.id)).toEqual(["api-limit"]);
    expect((await playbookEvents()).map((e) => (e.data as { version: number }).version).sort()).toEqual([
      1, 2,
    ]);
  });

  it("refuses a catalog that would leave the playbook in force invalid, applying nothing", async () => {
    const locked = await api.request("PUT", "/v1/playbook", {
      version: 1,
      plays: [play("audit-log", { kind: "feature_locked", feature: "audit_log" })],
    });
    expect(locked.statusCode, locked.body).toBe(200);
    const catalog = parse(await readFile(DEMO_CATALOG_FILE, "utf8")) as {
      features: Record<string, unknown>;
      plans: Record<string, { grants?: Record<string, unknown> }>;
    };
    delete catalog.features.audit_log;
    for (const plan of Object.values(catalog.plans)) delete plan.grants?.audit_log;
    const before = await tableSnapshot(api.database);
    const response = await api.request("POST", "/v1/catalog", catalog);
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({
      code: "catalog_breaks_playbook",
      errors: [{ param: "playbook.plays[0].trigger.feature" }],
    });
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("serves the published JSON Schema without a key", async () => {
    const response = await api.app.inject({ url: "/schemas/playbook.schema.json" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("application/schema+json");
    expect(response.json()).toMatchObject({ $id: "https://uptier.dev/schemas/playbook.schema.json" });
    const catalog = await api.app.inject({ url: "/schemas/catalog.schema.json" });
    expect(catalog.json().$id).toBe("https://uptier.dev/schemas/catalog.schema.json");
  });
});

describe("a playbook before any catalog", () => {
  const bare = useTestApi({ catalog: false });
  it("is refused: it is validated against the catalog in force", async () => {
    const before = await tableSnapshot(bare.database);
    const response = await bare.request("PUT", "/v1/playbook", { version: 1, plays: [] });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: "catalog_not_applied" });
    expect(await tableSnapshot(bare.database)).toEqual(before);
  });
});
