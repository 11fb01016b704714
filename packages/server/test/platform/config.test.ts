import { DEFAULT_LATE_WINDOW_MS } from "@uptier/core";
import { describe, expect, it } from "vitest";
import { loadConfig, meteringOptions } from "../../src/config.ts";
import { DEFAULT_CONNECTION_TIMEOUT_MS } from "../../src/db/client.ts";
import { usageEvent, useMeteringApi } from "../support/metering-harness.ts";

const HOUR = 3_600_000;

describe("metering settings from the environment", () => {
  it("default to rejecting unknown accounts and a 7-day late-event window", () => {
    expect(meteringOptions(loadConfig({}))).toEqual({
      unknownAccounts: "reject",
      lateWindowMs: DEFAULT_LATE_WINDOW_MS,
    });
    // empty means unset, as for DATABASE_URL
    expect(
      meteringOptions(loadConfig({ UPTIER_UNKNOWN_ACCOUNTS: "", UPTIER_LATE_EVENT_WINDOW: "" })),
    ).toEqual({
      unknownAccounts: "reject",
      lateWindowMs: 7 * 24 * HOUR,
    });
  });

  it("read the policy and a window in whole hours or days", () => {
    const window = (value: string) =>
      loadConfig({ UPTIER_LATE_EVENT_WINDOW: value }).UPTIER_LATE_EVENT_WINDOW;
    expect(window("36h")).toBe(36 * HOUR);
    expect(window("7d")).toBe(7 * 24 * HOUR);
    expect(window("1h")).toBe(HOUR);
    expect(window("366d")).toBe(366 * 24 * HOUR);
    expect(loadConfig({ UPTIER_UNKNOWN_ACCOUNTS: "create" }).UPTIER_UNKNOWN_ACCOUNTS).toBe("create");
  });

  it("reject anything else with an error that names the variable and the format", () => {
    for (const bad of ["7", "604800", "7 days", "0h", "0d", "1.5d", "-1d", "7D", "30m", "367d", "d"])
      expect(() => loadConfig({ UPTIER_LATE_EVENT_WINDOW: bad }), bad).toThrow(
        /invalid configuration: UPTIER_LATE_EVENT_WINDOW: must be whole hours or days from 1h to 366d, such as "36h" or "7d"/,
      );
    for (const bad of ["auto-create", "auto", "CREATE", "yes"])
      expect(() => loadConfig({ UPTIER_UNKNOWN_ACCOUNTS: bad }), bad).toThrow(
        /invalid configuration: UPTIER_UNKNOWN_ACCOUNTS: .*"reject".*"create"/,
      );
  });
});

describe("UPTIER_DB_CONNECTION_TIMEOUT", () => {
  const timeout = (value?: string) =>
    loadConfig(value === undefined ? {} : { UPTIER_DB_CONNECTION_TIMEOUT: value })
      .UPTIER_DB_CONNECTION_TIMEOUT;

  it("defaults to 10 seconds, the database client's own default; empty means unset", () => {
    expect(timeout()).toBe(10_000);
    expect(timeout("")).toBe(10_000);
    expect(DEFAULT_CONNECTION_TIMEOUT_MS).toBe(10_000);
  });

  it("reads whole milliseconds or seconds", () => {
    expect(timeout("500ms")).toBe(500);
    expect(timeout("1ms")).toBe(1);
    expect(timeout("30s")).toBe(30_000);
    expect(timeout("600s")).toBe(600_000);
  });

  it("rejects anything else, and no timeout at all, naming the variable and the format", () => {
    for (const bad of ["0", "0s", "0ms", "10", "1.5s", "-1s", "10S", "1m", "601s", "600001ms", "off"])
      expect(() => timeout(bad), bad).toThrow(
        /invalid configuration: UPTIER_DB_CONNECTION_TIMEOUT: must be whole milliseconds or seconds from 1ms to 600s, such as "500ms" or "10s"/,
      );
  });
});

describe("an app built from the environment's settings (as `uptier start` builds it)", () => {
  const api = useMeteringApi({
    metering: meteringOptions(
      loadConfig({ UPTIER_UNKNOWN_ACCOUNTS: "create", UPTIER_LATE_EVENT_WINDOW: "36h" }),
    ),
  });

  it("creates the account of an event for an unknown external id", async () => {
    const res = await api.events([usageEvent("org_from_env", "api.call")]);
    expect(res.json()).toMatchObject({ accepted: 1, rejected: 0 });
    const ent = await api.request("GET", "/v1/entitlements?account=org_from_env");
    expect(ent.statusCode).toBe(200);
    expect(ent.json()).toMatchObject({ external_id: "org_from_env" });
  });

  it("accepts events up to 36 hours late, and no later", async () => {
    const { account } = await api.accountOn("starter");
    const ago = (hours: number) => new Date(api.clock().getTime() - hours * HOUR).toISOString();
    const res = await api.events([
      usageEvent(account, "api.call", { timestamp: ago(35) }),
      usageEvent(account, "api.call", { timestamp: ago(37) }),
    ]);
    expect(res.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual([
      "accepted",
      "timestamp_too_old",
    ]);
  });
});
