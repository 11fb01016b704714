import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Playbook, ResolvedCatalog } from "@uptier/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCatalogFile } from "../../src/catalog-file.ts";
import { DEMO_CATALOG_FILE } from "../../src/demo/catalog-file.ts";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { parsePlaybookText, readPlaybookFile } from "../../src/playbook-file.ts";
import { formatIssue } from "../../src/yaml-locate.ts";

let catalog: ResolvedCatalog;
let dir: string;
beforeAll(async () => {
  const read = await readCatalogFile(DEMO_CATALOG_FILE);
  if (!read.ok) throw new Error("the demo catalog is invalid");
  catalog = read.validation.catalog;
  dir = await mkdtemp(join(tmpdir(), "uptier-playbook-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the demo playbook", () => {
  let playbook: Playbook;
  beforeAll(async () => {
    const result = await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
    playbook = result.playbook;
  });
  const play = (id: string) => {
    const found = playbook.plays.find((p) => p.id === id);
    if (!found) throw new Error(`no play ${id}`);
    return found;
  };

  it("validates against the demo catalog with no issue", async () => {
    expect(await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog)).toMatchObject({ ok: true });
    expect(playbook.defaults).toEqual({
      caps: { per_user_per_day: 1, per_account_per_week: 3 },
      snooze_days: 7,
      min_hours_between_shows: 24,
    });
  });

  it("expresses seed 004's usage ceiling: 80% at once, 95% only if 80% did not convert", () => {
    expect(play("usage-80").trigger).toEqual({ kind: "usage_ratio", feature: "api_calls", at: 0.8 });
    expect(play("usage-95")).toMatchObject({
      trigger: { kind: "usage_ratio", feature: "api_calls", at: 0.95 },
      escalates: "usage-80",
    });
    expect(play("usage-95").priority).toBeGreaterThan(play("usage-80").priority);
  });

  it("expresses the seat limit: immediate to the admin, 24h follow-up unless answered, quarterly check-in", () => {
    expect(play("seat-limit")).toMatchObject({
      trigger: { kind: "seat_limit_hit" },
      offer: { change: { kind: "seats", add: 1 } },
      channels: expect.arrayContaining(["in_app", "email"]),
      follow_ups: [{ after: "24h", unless: "answered", channels: ["email"] }],
    });
    expect(play("seat-limit-free")).toMatchObject({
      audience: { plans: ["free"] },
      offer: { change: { kind: "next_plan" } },
    });
    expect(play("seat-check-in").trigger).toMatchObject({
      kind: "subscription_month",
      months: [3, 6, 9, 12, 24, 36, 48, 60],
    });
  });

  it("expresses the annual nudges at months 3, 6 and 9, escalating, month 9 with its bonus", () => {
    expect(play("annual-month-3")).toMatchObject({
      trigger: { kind: "subscription_month", months: [3] },
      audience: { intervals: ["month"] },
      offer: { change: { kind: "interval", interval: "year" } },
    });
    expect(play("annual-month-6")).toMatchObject({ trigger: { months: [6] }, escalates: "annual-month-3" });
    expect(play("annual-month-9")).toMatchObject({
      trigger: { months: [9], days_before: 7 },
      escalates: "annual-month-6",
      offer: { bonus: "an extra seat free for 3 months" },
    });
  });

  it("expresses the four behaviour cross-sells", () => {
    expect(play("exports-10").trigger).toEqual({ kind: "event_count", event: "export.created", count: 10 });
    expect(play("invites-3-in-7-days").trigger).toEqual({
      kind: "event_count",
      event: "member.invited",
      count: 3,
      within_days: 7,
    });
    expect(play("api-key-generated").trigger).toEqual({
      kind: "event_count",
      event: "api_key.generated",
      count: 1,
    });
    expect(play("reports-5").trigger).toEqual({ kind: "event_count", event: "report.viewed", count: 5 });
  });

  it("expresses seed 001's locked features, 30+ days on Free and the account-age windows", () => {
    expect(play("locked-batch-export").trigger).toEqual({ kind: "feature_locked", feature: "batch_export" });
    expect(play("free-30-days").trigger).toEqual({ kind: "plan_tenure", plan: "free", days: 30 });
    const windows = playbook.plays.filter((p) => p.trigger.kind === "account_age").map((p) => p.trigger);
    expect(windows).toEqual([
      { kind: "account_age", from_days: 30, to_days: 90 },
      { kind: "account_age", from_days: 90, to_days: 180 },
      { kind: "account_age", from_days: 180 },
    ]);
  });
});

describe("a broken playbook", () => {
  async function issuesOf(lines: string[]): Promise<string[]> {
    const file = join(dir, "uptier.playbook.yaml");
    await writeFile(file, `${lines.join("\n")}\n`);
    const result = await readPlaybookFile(file, catalog);
    if (result.ok) throw new Error("expected the playbook to be refused");
    return result.issues.map((issue) => formatIssue(issue).slice(file.length + 1));
  }

  it("is refused whole, every issue at its line and column", async () => {
    expect(
      await issuesOf([
        "version: 1",
        "plays:",
        "  - id: usage-80",
        "    name: Usage",
        "    trigger: { kind: usage_ratio, feature: api_callz, at: 0.8 }",
        "    audience: { plans: [starter, gold] }",
        "    message:",
        '      title: "At {{usage.pct}}%"',
        "      body: ok",
        "    escalates: usage-95",
        "  - id: usage-95",
        "    name: Usage 95",
        "    trigger: { kind: account_age, from_days: 90, to_days: 30 }",
        "    message: { title: t, body: b }",
        "    escalates: usage-80",
      ]),
    ).toEqual([
      '5:44: plays[0].trigger.feature: unknown feature "api_callz"',
      '6:34: plays[0].audience.plans[1]: unknown plan "gold"',
      '8:14: plays[0].message.title: unknown template variable "usage.pct"',
      "10:16: plays[0].escalates: plays escalate each other in a cycle: usage-80 → usage-95 → usage-80",
      "13:59: plays[1].trigger.to_days: the window is empty: to_days must be above from_days (90)",
    ]);
  });

  it("reports a syntax error or a repeated key without validating further", async () => {
    const syntax = await issuesOf(["version: 1", "plays: [", "  - id: a"]);
    expect(syntax[0]).toBe(
      "3:3: (syntax): Block collections are not allowed within flow collections at line 3, column 3:",
    );
    for (const issue of syntax) expect(issue).toMatch(/^\d+:\d+: \(syntax\): /);
    expect(await issuesOf(["version: 1", "plays: []", "version: 1"])).toEqual([
      '3:1: (syntax): Map keys must be unique: "version" is already at line 1',
    ]);
  });

  it("names the text's source when it is not a file", async () => {
    const text = await readFile(DEMO_PLAYBOOK_FILE, "utf8");
    const broken = text.replace("feature: batch_export", "feature: fax");
    const result = parsePlaybookText(broken, catalog, "PUT /v1/playbook");
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^PUT \/v1\/playbook:\d+:\d+: plays\[\d+\]\.trigger\.feature: unknown feature "fax"$/,
      ),
    ]);
  });
});
