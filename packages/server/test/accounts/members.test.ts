import { MEMBER_PROPERTY_BOUNDS } from "@uptier/core";
import { describe, expect, it } from "vitest";
import { accountOnPlan, tableSnapshot, useTestApi } from "../support/harness.ts";

const api = useTestApi();

const invite = (account: string, email: string, extra: Record<string, unknown> = {}) =>
  api.request("POST", `/v1/accounts/${account}/members`, { email, ...extra });

describe("members and seats", () => {
  it("counts invited and active members as seats used and refuses the invite past the last seat", async () => {
    const { account, subscription } = await accountOnPlan(api, "free");
    expect(
      (await invite(account, "owner@acme.test", { role: "admin", status: "active", user_id: "u1" }))
        .statusCode,
    ).toBe(201);
    expect((await invite(account, "two@acme.test")).statusCode).toBe(201);
    expect((await invite(account, "three@acme.test")).statusCode).toBe(201);
    const full = await invite(account, "four@acme.test");
    expect(full.statusCode).toBe(409);
    expect(full.json()).toMatchObject({ code: "seat_limit_reached", param: "email" });
    expect(full.json().detail).toContain("All 3 seats on the Free plan are taken");
    const sub = (await api.request("GET", `/v1/subscriptions/${subscription}`)).json();
    expect(sub.seats_in_use).toBe(3);
    const members = (await api.request("GET", `/v1/accounts/${account}/members`)).json();
    expect(members.data.map((m: { email: string }) => m.email).sort()).toEqual([
      "owner@acme.test",
      "three@acme.test",
      "two@acme.test",
    ]);
  });

  it("frees a seat when a member is removed, and keeps the removed member on record", async () => {
    const { account } = await accountOnPlan(api, "free");
    const ids: string[] = [];
    for (const email of ["a@x.test", "b@x.test", "c@x.test"])
      ids.push((await invite(account, email)).json().id);
    const removed = await api.request("DELETE", `/v1/accounts/${account}/members/${ids[1]}`);
    expect(removed.json()).toMatchObject({ status: "removed" });
    expect(removed.json().removed_at).toBe("2026-01-16T12:00:00.000Z");
    expect((await invite(account, "d@x.test")).statusCode).toBe(201);
    // the same person can be invited again once removed
    const removedAgain = await api.request("DELETE", `/v1/accounts/${account}/members/${ids[2]}`);
    expect(removedAgain.statusCode).toBe(200);
    expect((await invite(account, "B@x.test")).statusCode).toBe(201);
    const onlyRemoved = (await api.request("GET", `/v1/accounts/${account}/members?status=removed`)).json();
    expect(onlyRemoved.data).toHaveLength(2);
  });

  it("lets two invites race for the last seat and admits exactly one", async () => {
    const { account } = await accountOnPlan(api, "free");
    await invite(account, "one@race.test");
    await invite(account, "two@race.test");
    const results = await Promise.all(
      ["x@race.test", "y@race.test", "z@race.test"].map((e) => invite(account, e)),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
  });

  it("rejects a duplicate email (case-insensitive) or user id in the same account", async () => {
    const { account } = await accountOnPlan(api, "starter");
    await invite(account, "Dana@Acme.test", { user_id: "dana", status: "active" });
    const sameEmail = await invite(account, "dana@acme.test");
    expect(sameEmail.json()).toMatchObject({ code: "member_exists", param: "email" });
    const sameUser = await invite(account, "other@acme.test", { user_id: "dana" });
    expect(sameUser.json()).toMatchObject({ code: "member_exists", param: "user_id" });
  });

  it("activates an invited member with the user id it signed in with, and changes roles", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const member = (await invite(account, "new@acme.test")).json();
    expect(member).toMatchObject({ status: "invited", role: "member", user_id: null });
    const noUser = await api.request("PATCH", `/v1/accounts/${account}/members/${member.id}`, {
      status: "active",
    });
    expect(noUser.json()).toMatchObject({ code: "invalid_request", param: "user_id" });
    const active = (
      await api.request("PATCH", `/v1/accounts/${account}/members/${member.id}`, {
        status: "active",
        user_id: "u-9",
        role: "admin",
      })
    ).json();
    expect(active).toMatchObject({
      status: "active",
      role: "admin",
      user_id: "u-9",
      activated_at: "2026-01-16T12:00:00.000Z",
    });
    const back = await api.request("PATCH", `/v1/accounts/${account}/members/${member.id}`, {
      status: "invited",
    });
    expect(back.json().code).toBe("invalid_status_transition");
  });

  it("does not reduce seats below the seats in use", async () => {
    const { account, subscription } = await accountOnPlan(api, "starter", { seats: 8 });
    for (let i = 0; i < 7; i++) await invite(account, `p${i}@acme.test`);
    const response = await api.request("PATCH", `/v1/subscriptions/${subscription}`, { seats: 6 });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: "seat_quantity_below_usage", param: "seats" });
    expect((await api.request("GET", `/v1/subscriptions/${subscription}`)).json().seats).toBe(8);
  });

  it("refuses members for an account with no live subscription", async () => {
    const account = (await api.request("POST", "/v1/accounts", { external_id: "bare", name: "Bare" })).json()
      .id;
    const response = await invite(account, "a@bare.test");
    expect(response.json().code).toBe("no_active_subscription");
  });

  it("hides another account's member behind 404", async () => {
    const one = await accountOnPlan(api, "starter");
    const two = await accountOnPlan(api, "starter");
    const member = (await invite(one.account, "mine@one.test")).json();
    const response = await api.request("GET", `/v1/accounts/${two.account}/members/${member.id}`);
    expect(response.statusCode).toBe(404);
  });
});

describe("a member's name and properties", () => {
  const patch = (account: string, member: string, body: object) =>
    api.request("PATCH", `/v1/accounts/${account}/members/${member}`, body);

  it("keeps the name and properties given; an update merges properties and null removes a key or the name", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const made = await invite(account, "ada@acme.test", {
      name: "Ada Lovelace",
      properties: { title: "CTO", seniority: 3, beta: true, dropped: null },
    });
    expect(made.statusCode, made.body).toBe(201);
    const member = made.json();
    expect(member).toMatchObject({
      name: "Ada Lovelace",
      properties: { title: "CTO", seniority: 3, beta: true },
    });
    expect(member.properties).not.toHaveProperty("dropped");
    const plain = (await invite(account, "bob@acme.test")).json();
    expect(plain).toMatchObject({ name: null, properties: {} });

    const updated = await patch(account, member.id, {
      properties: { seniority: 4, beta: null, team: "core" },
    });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json()).toMatchObject({ name: "Ada Lovelace", role: "member" });
    expect(updated.json().properties).toEqual({ title: "CTO", seniority: 4, team: "core" });
    const renamed = (await patch(account, member.id, { name: "Ada King" })).json();
    expect(renamed).toMatchObject({
      name: "Ada King",
      properties: { title: "CTO", seniority: 4, team: "core" },
    });
    const nameless = (await patch(account, member.id, { name: null })).json();
    expect(nameless.name).toBeNull();
    const read = (await api.request("GET", `/v1/accounts/${account}/members/${member.id}`)).json();
    expect(read).toMatchObject({ name: null, properties: { title: "CTO", seniority: 4, team: "core" } });

    // the member events carry them, so webhooks do too
    const events = await api.database.db.query.domainEvents.findMany({
      where: (e, { and, eq }) => and(eq(e.accountId, account), eq(e.type, "member.updated")),
      orderBy: (e, { asc }) => asc(e.seq),
    });
    expect(events[0]?.data).toMatchObject({
      member: { properties: { seniority: 4, team: "core" } },
      previous: { properties: { seniority: 3, beta: true } },
    });
  });

  it("refuses a bad name or bad properties with a 4xx and its code, changing nothing", async () => {
    const { account } = await accountOnPlan(api, "starter");
    const member = (
      await invite(account, "kept@acme.test", { name: "Kept", properties: { title: "CTO" } })
    ).json();
    const many = (n: number, prefix = "k") =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));
    const long = "x".repeat(MEMBER_PROPERTY_BOUNDS.stringLength + 1);
    const cases: [object, string][] = [
      [{ name: "   " }, "name"],
      [{ name: "" }, "name"],
      [{ name: 42 }, "name"],
      [{ name: "x".repeat(501) }, "name"],
      [{ properties: { nested: { a: 1 } } }, "properties.nested"],
      [{ properties: { list: [1, 2] } }, "properties.list"],
      [{ properties: { text: long } }, "properties.text"],
      [{ properties: { ["k".repeat(MEMBER_PROPERTY_BOUNDS.keyLength + 1)]: 1 } }, "properties"],
      [{ properties: { "": 1 } }, "properties"],
      [{ properties: many(MEMBER_PROPERTY_BOUNDS.keys + 1) }, "properties"],
      [{ properties: "title=CTO" }, "properties"],
    ];
    const before = await tableSnapshot(api.database);
    for (const [body, param] of cases) {
      for (const response of [
        await invite(account, "new@acme.test", body as Record<string, unknown>),
        await patch(account, member.id, body),
      ]) {
        expect(response.statusCode, `${JSON.stringify(body).slice(0, 80)}: ${response.body}`).toBe(400);
        expect(response.json().code).toBe("invalid_request");
        expect(response.json().param).toMatch(new RegExp(`^${param.replace(".", "\\.")}`));
      }
    }
    expect(await tableSnapshot(api.database)).toEqual(before);
    // each update within bounds, but the merged properties would hold one too many
    const full = await patch(account, member.id, { properties: many(MEMBER_PROPERTY_BOUNDS.keys - 1) });
    expect(full.statusCode, full.body).toBe(200);
    const atBound = await tableSnapshot(api.database);
    const over = await patch(account, member.id, { properties: { one: 1, more: 2 } });
    expect([over.statusCode, over.json().code, over.json().param]).toEqual([
      422,
      "too_many_properties",
      "properties",
    ]);
    expect(await tableSnapshot(api.database)).toEqual(atBound);
    // replacing a key and removing another stays within the bound
    const swapped = await patch(account, member.id, { properties: { title: null, one: 1 } });
    expect(swapped.statusCode, swapped.body).toBe(200);
    expect(Object.keys(swapped.json().properties)).toHaveLength(MEMBER_PROPERTY_BOUNDS.keys);
  });
});
