import { describe, expect, it } from "vitest";
import { validateCatalog } from "../catalog/validate.ts";
import { DEMO_CATALOG, readRepoFile } from "../testing/demo-catalog.ts";
import { durationSeconds, type PlaybookIssue, playbookJsonSchema, validatePlaybook } from "./playbook.ts";

type Raw = Record<string, unknown>;

const play = (over: Raw = {}): Raw => ({
  id: "usage-80",
  name: "Usage at 80%",
  trigger: { kind: "usage_ratio", feature: "api_calls", at: 0.8 },
  offer: { change: { kind: "next_plan" } },
  message: {
    title: "You're at {{usage.percent}}% of your {{plan.name}} {{feature.name}} limit",
    body: "{{next_plan.name}} gives you {{next_plan.limit}} for {{next_plan.price}}.",
    cta: "Upgrade for {{offer.price}}/{{offer.interval}}",
  },
  ...over,
});

const issuesOf = (plays: Raw[], extra: Raw = {}): PlaybookIssue[] => {
  const result = validatePlaybook({ version: 1, plays, ...extra }, DEMO_CATALOG);
  return result.ok ? [] : [...result.issues];
};

/** The one issue at a path (fails the test when there is none). */
const at = (issues: PlaybookIssue[], path: string) => {
  const found = issues.filter((i) => i.path === path);
  expect(found, `${path} in ${JSON.stringify(issues)}`).not.toHaveLength(0);
  return found.map((i) => i.message).join(" | ");
};

describe("validatePlaybook: a sound playbook", () => {
  it("is accepted, typed, with the defaults filled in", () => {
    const result = validatePlaybook({ version: 1, plays: [play()] }, DEMO_CATALOG);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.playbook.defaults).toEqual({
      caps: { per_user_per_day: 1, per_account_per_week: 3 },
      snooze_days: 7,
      min_hours_between_shows: 24,
    });
    const [first] = result.playbook.plays;
    expect(first).toMatchObject({
      enabled: true,
      priority: 0,
      placement: "banner",
      channels: ["in_app"],
      expires_after_days: 14,
      audience: {},
      follow_ups: [],
    });
  });
});

describe("validatePlaybook: the document's shape", () => {
  it("needs version 1 and refuses unknown fields at their path", () => {
    expect(at(issuesOf([], { version: 2 }), "version")).toMatch(/1/);
    expect(at(issuesOf([play({ colour: "red" })]), "plays[0].colour")).toBe("unknown field");
  });

  it.each([
    ["Usage_80", "id"],
    ["usage--80", "id"],
    ["-usage", "id"],
  ])("refuses the id %s (ids are slugs)", (id, path) => {
    expect(at(issuesOf([play({ id })]), `plays[0].${path}`)).toMatch(/slug/);
  });

  it.each(["24 hours", "0h", "1.5h", "367d", "24H", "1w"])("refuses the duration %s", (after) => {
    const followUps = [{ after, channels: ["email"], message: { title: "t", body: "b" } }];
    expect(at(issuesOf([play({ follow_ups: followUps })]), "plays[0].follow_ups[0].after")).toBeTruthy();
  });

  it("reads durations in minutes, hours and days", () => {
    expect(durationSeconds("30m")).toBe(1800);
    expect(durationSeconds("24h")).toBe(86_400);
    expect(durationSeconds("7d")).toBe(604_800);
    expect(durationSeconds("7 d")).toBeNaN();
  });

  it("bounds numbers: ratios in whole percent up to 1, counts, caps, holdouts", () => {
    expect(
      at(
        issuesOf([play({ trigger: { kind: "usage_ratio", feature: "api_calls", at: 1.2 } })]),
        "plays[0].trigger.at",
      ),
    ).toMatch(/at most 1/);
    expect(
      at(
        issuesOf([play({ trigger: { kind: "usage_ratio", feature: "api_calls", at: 0 } })]),
        "plays[0].trigger.at",
      ),
    ).toMatch(/above 0/);
    expect(
      at(
        issuesOf([play({ trigger: { kind: "usage_ratio", feature: "api_calls", at: 0.805 } })]),
        "plays[0].trigger.at",
      ),
    ).toMatch(/whole percent/);
    expect(
      at(
        issuesOf([play({ trigger: { kind: "event_count", event: "x", count: 0 } })]),
        "plays[0].trigger.count",
      ),
    ).toBeTruthy();
    expect(
      at(issuesOf([], { defaults: { caps: { per_user_per_day: 0 } } }), "defaults.caps.per_user_per_day"),
    ).toBeTruthy();
    const experiment = { holdout: 100, variants: [{ id: "a", weight: 1 }] };
    expect(at(issuesOf([play({ experiment })]), "plays[0].experiment.holdout")).toBeTruthy();
    expect(at(issuesOf([play({ channels: ["in_app", "in_app"] })]), "plays[0].channels")).toMatch(/repeat/);
  });

  it("names an unknown trigger kind", () => {
    expect(at(issuesOf([play({ trigger: { kind: "moon_phase" } })]), "plays[0].trigger.kind")).toMatch(
      /usage_ratio/,
    );
  });
});

describe("validatePlaybook: against the catalog in force", () => {
  it("names unknown features, plans, add-ons and intervals no plan sells", () => {
    const issues = issuesOf([
      play({ trigger: { kind: "usage_ratio", feature: "api_callz", at: 0.8 } }),
      play({ id: "b", audience: { plans: ["gold", "free"], intervals: ["year"] } }),
      play({
        id: "c",
        trigger: { kind: "plan_tenure", plan: "platinum", days: 30 },
        offer: { change: { kind: "add_on", add_on: "fax" } },
        message: { title: "t", body: "b" },
      }),
      play({
        id: "d",
        offer: { change: { kind: "plan", plan: "free", interval: "year" } },
        message: { title: "t", body: "b" },
      }),
    ]);
    expect(at(issues, "plays[0].trigger.feature")).toBe('unknown feature "api_callz"');
    expect(at(issues, "plays[1].audience.plans[0]")).toBe('unknown plan "gold"');
    expect(at(issues, "plays[1].audience.intervals[0]")).toBe("no plan of the audience is sold per year");
    expect(at(issues, "plays[2].trigger.plan")).toBe('unknown plan "platinum"');
    expect(at(issues, "plays[2].offer.change.add_on")).toBe('unknown add-on "fax"');
    expect(at(issues, "plays[3].offer.change.interval")).toBe('plan "free" is not sold per year');
  });

  it("refuses usage triggers on boolean features and offers nothing can sell", () => {
    const issues = issuesOf([
      play({ trigger: { kind: "limit_reached", feature: "sso" }, message: { title: "t", body: "b" } }),
      play({ id: "b", audience: { plans: ["business"] }, message: { title: "t", body: "b" } }),
      play({
        id: "c",
        audience: { plans: ["free"] },
        offer: { change: { kind: "seats", add: 1 } },
        message: { title: "t", body: "b" },
      }),
      play({
        id: "d",
        offer: { change: { kind: "add_on", add_on: "sso", quantity: 2 } },
        audience: { plans: ["starter"] },
        message: { title: "t", body: "b" },
      }),
    ]);
    expect(at(issues, "plays[0].trigger.feature")).toMatch(/boolean feature/);
    expect(at(issues, "plays[1].offer.change.kind")).toMatch(/no plan of the audience has a plan above it/);
    expect(at(issues, "plays[2].offer.change.kind")).toMatch(/can hold more seats than it includes \(free\)/);
    expect(at(issues, "plays[3].offer.change.quantity")).toMatch(/one at a time/);
    expect(at(issues, "plays[3].offer.change.add_on")).toMatch(/not sold on any plan of the audience/);
  });

  it("refuses a locked-feature trigger for a feature no plan or add-on grants", () => {
    const catalog = validateCatalog({
      currency: "usd",
      features: { sso: { kind: "boolean", name: "SSO" }, seats: { kind: "seats", name: "Seats" } },
      plans: { free: { name: "Free", tier: 0, prices: { month: { base: 0 } }, seats: { included: 1 } } },
    });
    if (!catalog.ok) throw new Error("test catalog");
    const result = validatePlaybook(
      {
        version: 1,
        plays: [
          play({
            trigger: { kind: "feature_locked", feature: "sso" },
            offer: { change: { kind: "none" } },
            message: { title: "{{feature.name}}", body: "b" },
          }),
        ],
      },
      catalog.catalog,
    );
    expect(result.ok ? [] : result.issues).toEqual([
      {
        path: "plays[0].trigger.feature",
        message: 'no plan or add-on grants "sso": nothing could unlock it',
      },
    ]);
  });
});

describe("validatePlaybook: templates", () => {
  it("names an unknown variable and a refused tag at the template's path", () => {
    const issues = issuesOf([
      play({ message: { title: "{{usage.pct}}%", body: "{{#plan}}x{{/plan}}", cta: "{{{account.name}}}" } }),
    ]);
    expect(at(issues, "plays[0].message.title")).toBe('unknown template variable "usage.pct"');
    expect(at(issues, "plays[0].message.body")).toMatch(/^at character 0: sections are not allowed/);
    expect(at(issues, "plays[0].message.cta")).toMatch(/unescaped output is not allowed/);
  });

  it("refuses variables the play's trigger or offer cannot supply", () => {
    const issues = issuesOf([
      play({
        trigger: { kind: "seat_limit_hit" },
        offer: { change: { kind: "none" } },
        message: {
          title: "{{usage.percent}} {{feature.name}}",
          body: "{{offer.due_today}}",
          cta: "{{bonus}}",
        },
      }),
    ]);
    const title = at(issues, "plays[0].message.title");
    expect(title).toMatch(
      /"usage.percent" needs a usage_ratio or limit_reached trigger \(this one is seat_limit_hit\)/,
    );
    expect(title).toMatch(/"feature.name" needs a trigger that names a feature/);
    expect(at(issues, "plays[0].message.body")).toMatch(
      /"offer.due_today" needs an offer that changes something/,
    );
    expect(at(issues, "plays[0].message.cta")).toMatch(/"bonus" needs the offer's bonus/);
  });

  it("checks follow-up and variant copy, a variant's copy with its own offer", () => {
    const issues = issuesOf([
      play({
        follow_ups: [{ after: "1d", channels: ["email"], message: { title: "{{nope}}", body: "b" } }],
        experiment: {
          variants: [
            { id: "a", weight: 1 },
            { id: "b", weight: 1, offer: { change: { kind: "none" } } },
            { id: "c", weight: 1, message: { body: "{{bonus}}" } },
            { id: "c", weight: 1 },
          ],
        },
      }),
    ]);
    expect(at(issues, "plays[0].follow_ups[0].message.title")).toBe('unknown template variable "nope"');
    // variant b keeps the play's cta ("{{offer.price}}/…") but offers nothing
    expect(at(issues, "plays[0].experiment.variants[1].offer")).toMatch(/"offer.price" needs an offer/);
    expect(at(issues, "plays[0].experiment.variants[2].message.body")).toMatch(
      /"bonus" needs the offer's bonus/,
    );
    expect(at(issues, "plays[0].experiment.variants[3].id")).toMatch(/already used/);
  });
});

describe("validatePlaybook: impossible plays", () => {
  it("refuses a cycle in escalations, a self-escalation and an unknown one", () => {
    const issues = issuesOf([
      play({ id: "a", escalates: "b" }),
      play({ id: "b", escalates: "c" }),
      play({ id: "c", escalates: "a" }),
      play({ id: "d", escalates: "d" }),
      play({ id: "e", escalates: "zz" }),
      play({ id: "f", escalates: "a" }),
    ]);
    expect(issues.filter((i) => i.message.includes("cycle"))).toEqual([
      { path: "plays[0].escalates", message: "plays escalate each other in a cycle: a → b → c → a" },
    ]);
    expect(at(issues, "plays[3].escalates")).toBe("a play cannot escalate itself");
    expect(at(issues, "plays[4].escalates")).toBe('unknown play "zz"');
    expect(issues.filter((i) => i.path === "plays[5].escalates")).toEqual([]);
  });

  it("accepts a chain of escalations", () => {
    expect(
      issuesOf([play({ id: "a" }), play({ id: "b", escalates: "a" }), play({ id: "c", escalates: "b" })]),
    ).toEqual([]);
  });

  it("refuses empty windows and delays that do not increase", () => {
    const msg = { title: "t", body: "b" };
    const issues = issuesOf([
      play({ trigger: { kind: "account_age", from_days: 90, to_days: 30 }, message: msg }),
      play({ id: "b", trigger: { kind: "subscription_month", months: [3, 9, 6] }, message: msg }),
      play({ id: "c", trigger: { kind: "before_renewal", days: 30 }, message: msg }),
      play({
        id: "d",
        trigger: { kind: "before_renewal", days: 60 },
        audience: { intervals: ["year"] },
        message: msg,
      }),
      play({
        id: "e",
        follow_ups: [
          { after: "24h", channels: ["email"], message: msg },
          { after: "1d", channels: ["email"], message: msg },
        ],
      }),
    ]);
    expect(at(issues, "plays[0].trigger.to_days")).toMatch(/window is empty/);
    expect(at(issues, "plays[1].trigger.months[2]")).toMatch(/increasing order/);
    expect(at(issues, "plays[2].trigger.days")).toMatch(/a monthly period can be 28 days long/);
    expect(issues.filter((i) => i.path.startsWith("plays[3]"))).toEqual([]);
    expect(at(issues, "plays[4].follow_ups[1].after")).toMatch(/increasing order of their delay/);
  });

  it("refuses a play whose tenure plan is outside its own audience", () => {
    const issues = issuesOf([
      play({
        trigger: { kind: "plan_tenure", plan: "free", days: 30 },
        audience: { plans: ["starter"] },
        message: { title: "t", body: "b" },
      }),
    ]);
    expect(at(issues, "plays[0].trigger.plan")).toMatch(/not in the audience's plans/);
  });

  it("refuses duplicate play ids, naming the first", () => {
    expect(at(issuesOf([play(), play({ name: "again" })]), "plays[1].id")).toBe(
      'play id "usage-80" is already used by plays[0]',
    );
  });
});

describe("validatePlaybook: refused whole", () => {
  it("returns every issue of every play in one pass, in the order of the plays", () => {
    const issues = issuesOf([
      play({ trigger: { kind: "usage_ratio", feature: "api_calls", at: 2 } }),
      play({ id: "b", audience: { plans: ["gold"] } }),
      play({ id: "c", message: { title: "{{x}}", body: "b" } }),
    ]);
    expect(issues.map((i) => i.path)).toEqual([
      "plays[0].trigger.at",
      "plays[1].audience.plans[0]",
      "plays[2].message.title",
    ]);
  });
});

describe("playbook.schema.json", () => {
  const schema = playbookJsonSchema() as {
    $id?: string;
    required?: string[];
    properties?: Record<string, unknown>;
  };

  it("is exactly what scripts/write-playbook-schema.ts writes from playbookJsonSchema()", () => {
    expect(
      readRepoFile("../../playbook.schema.json"),
      "playbook.schema.json is stale: run `npx tsx scripts/write-playbook-schema.ts`",
    ).toBe(`${JSON.stringify(playbookJsonSchema(), null, 2)}\n`);
  });

  it("is a draft 2020-12 schema with a stable $id, requiring version and plays", () => {
    expect(schema.$id).toBe("https://uptier.dev/schemas/playbook.schema.json");
    expect([...(schema.required ?? [])].sort()).toEqual(["plays", "version"]);
    const text = JSON.stringify(schema);
    expect(text).toContain("^[a-z0-9]+(?:-[a-z0-9]+)*$");
    for (const kind of [
      "usage_ratio",
      "limit_reached",
      "feature_locked",
      "event_count",
      "seat_limit_hit",
      "plan_tenure",
      "subscription_month",
      "before_renewal",
      "account_age",
    ])
      expect(text).toContain(`"const":"${kind}"`);
  });
});
