import { beforeAll, describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../src/lib/storable-json.ts";
import { accountOnPlan, tableSnapshot, useTestApi } from "../support/harness.ts";

const api = useTestApi();

/**
 * The cases are generated from the served /openapi.json: every route, every path and query
 * parameter and every body field it documents gets them, so a new route or field is covered (or,
 * with no valid body below, fails this test) without anyone remembering to add it here.
 */
type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
};
type Operation = {
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  parameters?: { in: "path" | "query"; name: string; required?: boolean; schema: JsonSchema }[];
};
type Spec = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
};

interface Case {
  readonly method: string;
  readonly url: string;
  readonly payload?: string;
  readonly contentType?: string;
  readonly note: string;
  /** the problem's code and param when the case names them; otherwise any 4xx problem will do */
  readonly expected?: { readonly code: string; readonly param?: string; readonly paramStartsWith?: string };
}

interface Fixtures {
  readonly account: string;
  readonly subscription: string;
  readonly member: string;
  /** an account with no subscription yet */
  readonly bare: string;
}

/**
 * A body each route's schema accepts: sent with an unknown query parameter it must fail on the
 * query (validated after the body), which proves it valid; each hostile value is set into it.
 */
const VALID_BODIES: Record<string, (f: Fixtures) => unknown> = {
  "POST /v1/events": (f) => ({ id: "evt-valid", account: f.account, event: "api.call" }),
  "POST /v1/segment/track": () => ({ userId: "u1", event: "api.call" }),
  "POST /v1/segment/identify": () => ({ userId: "u1" }),
  "POST /v1/segment/group": (f) => ({ userId: "u1", groupId: f.account }),
  "POST /v1/segment/batch": () => ({ batch: [{ type: "track", userId: "u1", event: "api.call" }] }),
  "POST /v1/check": (f) => ({ account: f.account, feature: "api_calls" }),
  "PUT /v1/accounts/{id}/usage/{feature}": () => ({ value: 1 }),
  "POST /v1/accounts": () => ({ external_id: "ext-valid", name: "Valid" }),
  "PATCH /v1/accounts/{id}": () => ({ name: "Renamed" }),
  "POST /v1/accounts/{id}/members": () => ({ email: "new@valid.test" }),
  "PATCH /v1/accounts/{id}/members/{member}": () => ({ role: "admin" }),
  "POST /v1/subscriptions": (f) => ({ account: f.bare, plan: "starter" }),
  "PATCH /v1/subscriptions/{id}": () => ({ seats: 6 }),
  "POST /v1/subscriptions/{id}/cancel": () => ({}),
  "POST /v1/subscriptions/{id}/scheduled_change/cancel": () => ({}),
  "POST /v1/catalog": () => ({ currency: "usd" }),
  "POST /v1/catalog/validate": () => ({ currency: "usd" }),
  "PUT /v1/playbook": () => ({ version: 1, plays: [] }),
  "POST /v1/playbook/validate": () => ({ version: 1, plays: [] }),
  "POST /v1/quotes": (f) => ({ account: f.account, seats: 6 }),
  "POST /v1/checkout": () => ({ quote: "qt_0valid" }),
  "POST /v1/checkouts/{id}/confirm": () => ({}),
  "POST /v1/accounts/{id}/payment_methods": () => ({ token: "tok_visa" }),
  "POST /v1/accounts/{id}/members/preview": () => ({ email: "new@valid.test" }),
  "POST /v1/invoices/{id}/pay": () => ({}),
  "POST /v1/invoices/{id}/void": () => ({}),
  "POST /v1/invoices/{id}/mark_uncollectible": () => ({}),
  "POST /v1/credit_notes": () => ({ invoice: "inv_0valid", outcome: "credit", amount: 100 }),
  "POST /v1/webhook_endpoints": () => ({ url: "https://hooks.valid.test/in", event_types: ["invoice.paid"] }),
  "PATCH /v1/webhook_endpoints/{id}": () => ({ description: "valid" }),
  "POST /v1/webhook_endpoints/{id}/rotate_secret": () => ({}),
  "POST /v1/prompts/{id}/events": (f) => ({ account: f.account, type: "shown" }),
  "POST /v1/webhook_deliveries/{id}/replay": () => ({}),
  "POST /v1/test_clocks": () => ({ frozen_time: "2026-01-01T00:00:00Z", name: "valid" }),
  "POST /v1/test_clocks/{id}/advance": () => ({ to: "2026-02-01T00:00:00Z" }),
};

/** Path parameters that pass their pattern: the cases never reach a handler, so they need not exist. */
function pathValue(path: string, name: string, f: Fixtures): string {
  if (name === "member") return f.member;
  if (name === "feature") return "api_calls";
  if (name !== "id") return "pm_0valid";
  if (path.startsWith("/v1/subscriptions")) return f.subscription;
  if (path.startsWith("/v1/accounts")) return f.account;
  return "inv_0valid";
}

const HOSTILE = "__hostile__";
/** JSON nested 10,000 levels, far past the limit (and past what JSON.stringify or jsonb can take). */
const DEEP = `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`;
const DEEP_ARRAY = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
const OUT_OF_RANGE_DATES = [
  "0000-01-01T00:00:00Z",
  "0001-01-01T00:00:00+01:00",
  "9999-12-31T23:59:59-01:00",
  "+275760-09-13T00:00:00Z",
  "2026-02-30T00:00:00Z",
  "2026-01-16T24:00:00Z",
  "2026-01-16T12:00:00",
];

function resolve(spec: Spec, schema: JsonSchema): JsonSchema {
  const name = schema.$ref?.split("/").pop();
  return name ? (spec.components?.schemas?.[name] ?? schema) : schema;
}

/** Every field a body schema documents, by path (array items as index 0), with its schema. */
function fieldsOf(
  spec: Spec,
  schema: JsonSchema,
  path: string[] = [],
): { path: string[]; schema: JsonSchema }[] {
  const s = resolve(spec, schema);
  const out = path.length > 0 ? [{ path, schema: s }] : [];
  for (const alternative of s.anyOf ?? []) out.push(...fieldsOf(spec, alternative, path));
  for (const [key, child] of Object.entries(s.properties ?? {}))
    out.push(...fieldsOf(spec, child, [...path, key]));
  if (s.items && (s.items.type || s.items.properties || s.items.$ref))
    out.push(...fieldsOf(spec, s.items, [...path, "0"]));
  return out;
}

const typesOf = (s: JsonSchema) => new Set([s.type, ...(s.anyOf ?? []).map((a) => a.type)].flat());
const isFreeForm = (s: JsonSchema) =>
  typeof s.additionalProperties === "object" || (typesOf(s).has("object") && !s.properties);

/** `base` with `value` set at `path`, making the objects and arrays on the way. */
function withValue(base: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (/^\d+$/.test(head)) {
    const array = Array.isArray(base) ? [...base] : [];
    array[Number(head)] = withValue(array[Number(head)], rest, value);
    return array;
  }
  const record = base && typeof base === "object" && !Array.isArray(base) ? base : {};
  return { ...record, [head]: withValue((record as Record<string, unknown>)[head], rest, value) };
}

/** The body with raw JSON text (a deep value, 1e400) in place of the field at `path`. */
function bodyWith(base: unknown, path: readonly string[], json: string): string {
  return JSON.stringify(withValue(base, path, HOSTILE)).replace(`"${HOSTILE}"`, () => json);
}

/** Values of the wrong type for a JSON Schema property, plus oversized and negative ones. */
function wrongValuesFor(schema: JsonSchema): unknown[] {
  const types = typesOf(schema);
  const values: unknown[] = [];
  if (!types.has("string")) values.push("not-a-number-or-object");
  if (!types.has("number") && !types.has("integer")) values.push(12345);
  if (!types.has("boolean")) values.push(true);
  if (!types.has("object")) values.push({ nested: { deep: true } });
  if (!types.has("array")) values.push([1, 2, 3]);
  if (types.has("string")) values.push("x".repeat(1_000_000));
  if (types.has("integer") || types.has("number")) values.push(-1, 1.5, 1e308);
  return values;
}

/** Numbers outside a numeric field's bounds, as JSON text. */
function outOfRange(schema: JsonSchema): string[] {
  const values = ["1e400", "-1e400"];
  if (schema.minimum !== undefined) values.push(String(schema.minimum - 1));
  if (schema.maximum !== undefined) values.push(String(schema.maximum + 1), "1e308");
  if (typesOf(schema).has("integer")) values.push("1.5", "9007199254740993");
  return values;
}

function casesFor(spec: Spec, f: Fixtures, missing: string[]): Case[] {
  const cases: Case[] = [];
  for (const [path, operations] of Object.entries(spec.paths))
    for (const [lower, operation] of Object.entries(operations)) {
      const method = lower.toUpperCase();
      const route = `${method} ${path}`;
      const params = operation.parameters ?? [];
      const url = path.replace(/\{([^}]+)\}/g, (_, name: string) => pathValue(path, name, f));
      // the query parameters a route requires, so that only the one under test is wrong
      const required = params
        .filter((p) => p.in === "query" && p.required)
        .map((p) => `${p.name}=${p.name === "account" ? f.account : "valid"}&`)
        .join("");
      const schema = operation.requestBody?.content["application/json"]?.schema;
      const valid = VALID_BODIES[route];
      if (schema && !valid) missing.push(route);
      const base = schema ? valid?.(f) : undefined;
      const payload = base === undefined ? {} : { payload: JSON.stringify(base) };
      const add = (c: Omit<Case, "method">) => cases.push({ method, ...c });

      // write routes and reads alike: an unknown query parameter is named, after a valid body
      add({
        url: `${url}?${required}unknown_param=1`,
        ...payload,
        note: "unknown query parameter",
        expected: { code: "invalid_request", param: "querystring.unknown_param" },
      });

      for (const p of params.filter((p) => p.in === "path")) {
        const at = (value: string) =>
          path.replace(`{${p.name}}`, value).replace(/\{([^}]+)\}/g, (_, n) => pathValue(path, n, f));
        add({
          url: at("acct_%00"),
          ...payload,
          note: `NUL in path ${p.name}`,
          expected: { code: "unsupported_character", param: `params.${p.name}` },
        });
        // a lone surrogate cannot be percent-encoded in UTF-8: these bytes are not a valid URL
        for (const bad of ["%ED%A0%80", "x".repeat(5000), "acct_%27%3B%20drop%20table%20accounts"])
          add({ url: at(bad), ...payload, note: `bad path ${p.name} ${bad.slice(0, 12)}` });
      }

      for (const q of params.filter((p) => p.in === "query")) {
        add({
          url: `${url}?${q.name}=a%00b`,
          note: `NUL in query ${q.name}`,
          expected: { code: "unsupported_character", param: `querystring.${q.name}` },
        });
        if (typesOf(q.schema).has("integer") || typesOf(q.schema).has("number"))
          for (const n of [...outOfRange(q.schema), "abc", `${q.name}=1&${q.name}=2`])
            add({
              url: `${url}?${n.includes("=") ? n : `${q.name}=${n}`}`,
              note: `query ${q.name}=${n}`,
              expected: { code: "invalid_request", param: `querystring.${q.name}` },
            });
      }
      if (path.endsWith("s") && method === "GET")
        add({ url: `${url}?cursor=%%%`, note: "undecodable cursor" });

      if (!schema) continue;
      const body = (json: string, note: string, expected?: Case["expected"]) =>
        add({ url, payload: json, note, ...(expected ? { expected } : {}) });
      body("{not json", "malformed JSON");
      body('{"a":', "truncated JSON");
      add({ url, payload: "name=x", contentType: "text/plain", note: "wrong content type" });
      body(JSON.stringify({ pad: "x".repeat(1_100_000) }), "body over 1 MiB");
      for (const whole of [[], "string", 42, null])
        body(JSON.stringify(whole), `body ${JSON.stringify(whole)}`);
      body(DEEP, "the whole body nested 10,000 levels", { code: "nesting_too_deep" });
      body(DEEP_ARRAY, "the whole body an array nested 10,000 levels", { code: "nesting_too_deep" });
      body('"\\u0000"', "the whole body a NUL", { code: "unsupported_character", param: "(body)" });
      body("1e400", "the whole body 1e400", { code: "number_out_of_range", param: "(body)" });

      const root = resolve(spec, schema);
      if (root.properties) {
        body(JSON.stringify({ surprise_field: 1 }), "unknown field");
        for (const [name, property] of Object.entries(root.properties))
          for (const value of wrongValuesFor(property))
            body(
              JSON.stringify({ [name]: value }),
              `${name} = ${String(JSON.stringify(value)).slice(0, 20)}`,
            );
      }

      const fields = fieldsOf(spec, root);
      const freeForm = [
        ...(isFreeForm(root) ? [[] as string[]] : []),
        ...fields.filter((x) => isFreeForm(x.schema)).map((x) => x.path),
      ];
      for (const { path: at, schema: field } of fields) {
        const param = at.join(".");
        const named = (code: string) => ({ code, param });
        body(
          JSON.stringify(withValue(base, at, "a\u0000b")),
          `NUL in ${param}`,
          named("unsupported_character"),
        );
        body(
          JSON.stringify(withValue(base, at, "a\ud800b")),
          `lone surrogate in ${param}`,
          named("unsupported_character"),
        );
        body(
          JSON.stringify(withValue(base, at, "\udc00")),
          `lone low surrogate in ${param}`,
          named("unsupported_character"),
        );
        body(bodyWith(base, at, DEEP), `${param} nested 10,000 levels`, {
          code: "nesting_too_deep",
          paramStartsWith: param,
        });
        body(bodyWith(base, at, "1e400"), `${param} = 1e400`, named("number_out_of_range"));
        const types = typesOf(field);
        if (types.has("integer") || types.has("number")) {
          if (field.minimum === undefined || field.maximum === undefined)
            missing.push(`bounds of ${route} ${param}`);
          for (const n of outOfRange(field)) body(bodyWith(base, at, n), `${param} = ${n}`);
        }
        if (field.format === "date-time")
          for (const date of OUT_OF_RANGE_DATES)
            body(JSON.stringify(withValue(base, at, date)), `${param} = ${date}`);
      }
      for (const at of freeForm) {
        const param = (key: string) => [...at, key].join(".");
        body(
          JSON.stringify(withValue(base, [...at, "k\u0000"], 1)),
          `NUL in a key of ${at.join(".") || "the body"}`,
          {
            code: "unsupported_character",
            param: param("k\\u0000"),
          },
        );
        body(
          JSON.stringify(withValue(base, [...at, "k\ud83d"], 1)),
          `lone surrogate in a key of ${at.join(".") || "the body"}`,
          {
            code: "unsupported_character",
            param: param("k\\ud83d"),
          },
        );
        body(
          JSON.stringify(withValue(base, [...at, "k", "list", "0"], "a\u0000")),
          `NUL in a value of ${at.join(".") || "the body"}`,
          {
            code: "unsupported_character",
            param: param("k.list.0"),
          },
        );
      }
    }
  return cases;
}

describe("hostile input against every route of the OpenAPI document", () => {
  let fixtures: Fixtures;
  let spec: Spec;
  beforeAll(async () => {
    const { account, subscription } = await accountOnPlan(api, "starter");
    const member = (
      await api.request("POST", `/v1/accounts/${account}/members`, { email: "m@bad.test" })
    ).json();
    const bare = (await api.request("POST", "/v1/accounts", { external_id: "bare", name: "Bare" })).json();
    fixtures = { account, subscription, member: member.id, bare: bare.id };
    spec = (await api.app.inject({ url: "/openapi.json" })).json();
  });

  it("answers each with a 4xx problem naming the code (and the param), never a 500, and writes nothing", async () => {
    const missing: string[] = [];
    const cases = casesFor(spec, fixtures, missing);
    expect(missing, "routes with no valid body here, or numbers with no bounds").toEqual([]);
    expect(cases.length).toBeGreaterThan(1500);
    const before = await tableSnapshot(api.database);

    const failures: string[] = [];
    for (const c of cases) {
      const response = await api.app.inject({
        method: c.method as "GET",
        url: c.url,
        headers: {
          authorization: `Bearer ${api.secret}`,
          ...(c.payload === undefined ? {} : { "content-type": c.contentType ?? "application/json" }),
        },
        ...(c.payload === undefined ? {} : { payload: c.payload }),
      });
      const problem = response.headers["content-type"]?.toString().startsWith("application/problem+json")
        ? response.json()
        : null;
      const e = c.expected;
      const ok =
        response.statusCode >= 400 &&
        response.statusCode < 500 &&
        typeof problem?.code === "string" &&
        typeof problem?.detail === "string" &&
        (!e ||
          (response.statusCode === 400 &&
            problem.code === e.code &&
            (e.param === undefined || problem.param === e.param) &&
            (e.paramStartsWith === undefined || problem.param?.startsWith(e.paramStartsWith))));
      if (!ok)
        failures.push(
          `${c.method} ${c.url.slice(0, 80)} (${c.note}) → ${response.statusCode} ${response.body.slice(0, 200)}`,
        );
    }
    expect(failures).toEqual([]);
    expect(await tableSnapshot(api.database)).toEqual(before);
  });

  it("takes JSON nested to the limit, and names the level past it", async () => {
    const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
    // the body is level 1, properties level 2: its value may nest the rest
    const at = (levels: number) =>
      api.app.inject({
        method: "POST",
        url: "/v1/accounts",
        headers: { authorization: `Bearer ${api.secret}`, "content-type": "application/json" },
        payload: `{"external_id":"deep-${levels}","name":"Deep","properties":{"k":${nested(levels)}}}`,
      });
    // past the depth check, the account's properties accept no objects: the schema answers
    const within = await at(MAX_JSON_DEPTH - 2);
    expect(within.json()).toMatchObject({ code: "invalid_request", param: "properties.k" });
    const past = await at(MAX_JSON_DEPTH - 1);
    expect(past.json()).toMatchObject({
      code: "nesting_too_deep",
      param: `properties.k${".a".repeat(MAX_JSON_DEPTH - 2)}`,
    });
  });

  it("names the offending field for wrong types, missing fields and unknown fields", async () => {
    const response = await api.request("POST", "/v1/accounts", { external_id: 7, extra: true });
    const problem = response.json();
    expect(response.statusCode).toBe(400);
    expect(problem.code).toBe("invalid_request");
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { param: "external_id", message: expect.stringContaining("expected string") },
        { param: "name", message: expect.stringContaining("expected string") },
        { param: "extra", message: "unknown field" },
      ]),
    );
  });
});
