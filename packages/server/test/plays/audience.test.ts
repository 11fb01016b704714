import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { promptInstances } from "../../src/db/schema/index.ts";
import { parsePlaybookText } from "../../src/playbook-file.ts";
import { formatIssue } from "../../src/yaml-locate.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/**
 * The audience over HTTP: a play's `member:` rules test the member's own properties, `segments`
 * the account's segment (its `segment` property, else its ACV), and the copy greets the member by
 * name (the email only when there is none), escaped.
 */
const PLAYBOOK = `
version: 1
plays:
  - id: engineers
    name: For engineers
    trigger: { kind: event_count, event: export.created, count: 1 }
    audience: { member: { team: engineering, seniority: { gte: 3 } } }
    message: { title: "Hi {{member.name}}", body: "Exports, {{account.name}}?" }
    placement: inline
  - id: smb-welcome
    name: For SMB accounts
    trigger: { kind: event_count, event: export.created, count: 1 }
    audience: { segments: [smb] }
    message: { title: "Welcome, {{member.name}}", body: "Small teams export too." }
    placement: banner
  - id: enterprise-only
    name: For enterprise accounts
    trigger: { kind: event_count, event: export.created, count: 1 }
    audience: { segments: [enterprise] }
    message: { title: "Talk to your account team", body: "{{account.name}}" }
    placement: modal
`;

const api = usePlaysApi((catalog) => {
  const parsed = parsePlaybookText(PLAYBOOK, catalog, "audience.playbook.yaml");
  if (!parsed.ok) throw new Error(parsed.issues.map(formatIssue).join("\n"));
  return parsed.playbook;
});

async function member(account: string, body: Record<string, unknown>) {
  const made = await api.request("POST", `/v1/accounts/${account}/members`, { status: "active", ...body });
  expect(made.statusCode, made.body).toBe(201);
  return made.json() as { id: string };
}

let exports = 0;
async function exported(account: string) {
  exports += 1;
  const sent = await api.request("POST", "/v1/events", {
    id: `export-${exports}`,
    account,
    event: "export.created",
  });
  expect(sent.statusCode, sent.body).toBeLessThan(300);
  await api.log.drainDurable("plays");
}

/** Who has a prompt of the play, by user id. */
async function audienceOf(account: string, play: string) {
  const rows = await api.database.db
    .select({ user: promptInstances.userId, action: promptInstances.action })
    .from(promptInstances)
    .where(and(eq(promptInstances.accountId, account), eq(promptInstances.play, play)));
  return Object.fromEntries(rows.map((r) => [r.user, r.action]));
}

const prompt = async (account: string, user: string, placement: string) => {
  const response = await api.request(
    "GET",
    `/v1/prompts?account=${account}&user=${user}&placement=${placement}`,
  );
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data[0];
};

describe("the audience reads the member's properties and the account's segment", () => {
  it("makes prompts for the members whose properties match, greeting each by name, escaped", async () => {
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (
      await api.request("POST", "/v1/accounts", { external_id: external, name: "Acme" })
    ).json().id as string;
    expect((await api.request("POST", "/v1/subscriptions", { account, plan: "starter" })).statusCode).toBe(
      201,
    );
    await member(account, {
      email: "ada@acme.test",
      name: "Ada <b>Lovelace</b>",
      role: "admin",
      user_id: "u-ada",
      properties: { team: "engineering", seniority: 4 },
    });
    const sales = await member(account, {
      email: "sam@acme.test",
      role: "admin",
      user_id: "u-sam",
      properties: { team: "sales", seniority: 5 },
    });
    await member(account, {
      email: "jun@acme.test",
      name: "Jun",
      role: "member",
      user_id: "u-jun",
      properties: { team: "engineering", seniority: 2 },
    });
    await member(account, {
      email: "eve@acme.test",
      name: "Eve",
      role: "member",
      user_id: "u-eve",
      properties: { team: "engineering", seniority: 3 },
    });

    await exported(account);
    // team engineering and seniority ≥ 3: Ada (an admin: buy) and Eve (a member: ask her admin)
    expect(await audienceOf(account, "engineers")).toEqual({ "u-ada": "buy", "u-eve": "ask_admin" });
    const greeting = await prompt(account, "u-ada", "inline");
    expect(greeting).toMatchObject({ play: "engineers", title: "Hi Ada &lt;b&gt;Lovelace&lt;&#x2F;b&gt;" });
    expect(greeting.title).not.toContain("<b>");
    // Sam gave no name: the copy falls back to the email
    expect(await prompt(account, "u-sam", "banner")).toMatchObject({
      play: "smb-welcome",
      title: "Welcome, sam@acme.test",
    });
    expect(await prompt(account, "u-jun", "banner")).toMatchObject({ title: "Welcome, Jun" });
    const why = await api.request("GET", `/v1/prompts/explain?account=${account}&user=u-sam&play=engineers`);
    expect(why.json()).toMatchObject({
      decided_by: {
        stage: "audience",
        code: "audience_not_matched",
        message: 'member property "team" ("sales") does not match "engineering"',
      },
    });

    // Sam moves to engineering: the next evaluation reads the new properties
    const moved = await api.request("PATCH", `/v1/accounts/${account}/members/${sales.id}`, {
      properties: { team: "engineering" },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    await api.log.drainDurable("plays");
    expect(await audienceOf(account, "engineers")).toEqual({
      "u-ada": "buy",
      "u-eve": "ask_admin",
      "u-sam": "buy",
    });
  });

  it("segments: by ACV until the account's segment property says otherwise", async () => {
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (await api.request("POST", "/v1/accounts", { external_id: external, name: "Big" })).json()
      .id as string;
    // Starter monthly: $1,188 a year, SMB by its ACV
    expect((await api.request("POST", "/v1/subscriptions", { account, plan: "starter" })).statusCode).toBe(
      201,
    );
    await member(account, { email: "cto@big.test", role: "admin", user_id: "u-cto" });
    await exported(account);
    expect(await audienceOf(account, "smb-welcome")).toEqual({ "u-cto": "buy" });
    expect(await audienceOf(account, "enterprise-only")).toEqual({});
    const why = await api.request(
      "GET",
      `/v1/prompts/explain?account=${account}&user=u-cto&play=enterprise-only`,
    );
    expect(why.json().decided_by).toMatchObject({
      code: "audience_not_matched",
      message: "the segment smb is not one of enterprise",
    });

    const named = await api.request("PATCH", `/v1/accounts/${account}`, {
      properties: { segment: "enterprise" },
    });
    expect(named.json()).toMatchObject({ segment: "enterprise" });
    await exported(account);
    expect(await audienceOf(account, "enterprise-only")).toEqual({ "u-cto": "buy" });
    expect(await prompt(account, "u-cto", "modal")).toMatchObject({
      play: "enterprise-only",
      title: "Talk to your account team",
    });
  });
});
