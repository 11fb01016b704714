import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEMO_PLAYBOOK_FILE } from "../../src/demo/playbook-file.ts";
import { readPlaybookFile } from "../../src/playbook-file.ts";
import { usePlaysApi } from "../support/plays-harness.ts";

/**
 * Seed 000's seat-limit moment over HTTP on the demo catalog and playbook: an invite refused for
 * lack of seats → the admin's prompt names the seat's price and what is due today → one checkout
 * of the prompt's quote → the invite goes through.
 */
const api = usePlaysApi(async (catalog) => {
  const parsed = await readPlaybookFile(DEMO_PLAYBOOK_FILE, catalog);
  if (!parsed.ok) throw new Error("the demo playbook is invalid");
  return parsed.playbook;
}, "2026-03-10T15:00:00Z");

describe("the seat-limit moment, end to end (seed 000)", () => {
  it("refused invite → prompt with the seat's price and today's amount → checkout → the invite succeeds", async () => {
    const external = `ext_${randomBytes(5).toString("hex")}`;
    const account = (
      await api.request("POST", "/v1/accounts", { external_id: external, name: "Acme" })
    ).json().id as string;
    const subscription = await api.request("POST", "/v1/subscriptions", { account, plan: "starter" });
    expect(subscription.statusCode, subscription.body).toBe(201);
    const card = await api.request("POST", `/v1/accounts/${account}/payment_methods`, {
      token: "sandbox_visa",
    });
    expect(card.statusCode, card.body).toBe(201);
    const admin = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "admin@acme.test",
      role: "admin",
      user_id: "u-admin",
      status: "active",
    });
    expect(admin.statusCode, admin.body).toBe(201);
    const adminId = admin.json().id as string;
    api.clock.set("2026-03-25T15:00:00Z"); // 16 of the period's 31 days are left

    // the admin invites teammates until the seats run out: the last invite is the moment
    let refused: Awaited<ReturnType<typeof api.request>> | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      const invite = await api.request("POST", `/v1/accounts/${account}/members`, {
        email: `mate${i}@acme.test`,
        invited_by: "u-admin",
      });
      if (invite.statusCode !== 201) refused = invite;
    }
    expect([refused?.statusCode, refused?.json().code]).toEqual([409, "seat_limit_reached"]);
    await api.log.drainDurable("plays");

    const listed = await api.request("GET", `/v1/prompts?account=${account}&user=u-admin&placement=modal`);
    expect(listed.statusCode, listed.body).toBe(200);
    const [prompt] = listed.json().data;
    expect(prompt).toMatchObject({ action: "buy" });
    expect(prompt.title).toMatch(/^You've filled all \d+ seats on the Starter plan$/);
    const due = prompt.quote.amount_due as number;
    expect(due).toBe(774); // $15 × 16/31, rounded once
    const dueText = `$${(due / 100).toFixed(2)}`;
    expect(prompt.body).toContain("Adding a seat is $15/month");
    expect(prompt.body).toContain(`${dueText} today`);
    expect(prompt.cta).toBe("Add a seat for $15/month");

    const checkout = await api.request("POST", "/v1/checkout", { quote: prompt.quote.id, member: adminId });
    expect([checkout.statusCode, checkout.json().status], checkout.body).toEqual([200, "succeeded"]);
    const retried = await api.request("POST", `/v1/accounts/${account}/members`, {
      email: "latecomer@acme.test",
      invited_by: "u-admin",
    });
    expect(retried.statusCode, retried.body).toBe(201);
  });
});
