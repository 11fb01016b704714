import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS_SECONDS, RouteLatencyHistogram } from "../../src/http/plugins/observability.ts";
import { useMeteringApi } from "../support/metering-harness.ts";

const NAME = "uptier_http_request_duration_seconds";
const HELP = "HTTP request latency by method and route";

/** The same observations into prom-client's Histogram and ours, each in its own registry. */
function both(observations: readonly [method: string, route: string, seconds: number][]) {
  const reference = new Registry();
  const histogram = new Histogram({
    name: NAME,
    help: HELP,
    labelNames: ["method", "route"] as const,
    buckets: [...LATENCY_BUCKETS_SECONDS],
    registers: [reference],
  });
  const folded = new Registry();
  const ours = new RouteLatencyHistogram(NAME, HELP);
  folded.registerMetric(ours as unknown as Histogram);
  const cells = new Map<string, ReturnType<RouteLatencyHistogram["cell"]>>();
  for (const [method, route, seconds] of observations) {
    histogram.observe({ method, route }, seconds);
    const key = `${method} ${route}`;
    const cell = cells.get(key) ?? ours.cell(method, route);
    cells.set(key, cell);
    ours.observe(cell, seconds);
  }
  return { reference, folded, histogram, ours };
}

describe("/metrics latency histogram", () => {
  // every bound exactly, either side of each, above the last, and routes interleaved
  const observations: [string, string, number][] = [];
  for (const [i, bound] of LATENCY_BUCKETS_SECONDS.entries())
    for (const seconds of [bound, bound * 0.999, bound * 1.001])
      observations.push([i % 2 ? "GET" : "POST", i % 3 ? "/v1/check" : "/v1/accounts/:id", seconds]);
  observations.push(["POST", "/v1/check", 3.5], ["GET", "unmatched", 0], ["POST", "/v1/check", 0.0004]);

  it("exposes exactly what prom-client's Histogram exposes for the same observations", async () => {
    const { reference, folded } = both(observations);
    const text = await folded.metrics();
    expect(text).toBe(await reference.metrics());
    expect(text).toContain(`${NAME}_bucket{le="0.001",method="POST",route="/v1/check"}`);
    expect(await folded.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
  });

  it("is emptied by a reset, as prom-client's is", async () => {
    const { reference, folded, ours } = both(observations);
    reference.resetMetrics();
    folded.resetMetrics();
    expect(await folded.metrics()).toBe(await reference.metrics());
    const cell = ours.cell("GET", "/healthz");
    ours.observe(cell, 0.002);
    expect(await folded.metrics()).toContain(`${NAME}_count{method="GET",route="/healthz"} 1`);
  });
});

describe("GET /metrics", () => {
  const api = useMeteringApi();

  it("counts requests by method, route and status, and observes each one's latency by route", async () => {
    const { account } = await api.accountOn("free");
    const before = await api.app.inject({ url: "/metrics" });
    const counted = (text: string, line: string) =>
      Number(
        text
          .split("\n")
          .find((l) => l.startsWith(`${line} `))
          ?.split(" ")[1] ?? 0,
      );
    for (let i = 0; i < 3; i++)
      expect((await api.request("POST", "/v1/check", { account, feature: "api_calls" })).statusCode).toBe(
        200,
      );
    expect((await api.request("POST", "/v1/check", { account })).statusCode).toBe(400);
    expect((await api.request("GET", "/v1/nothing-here")).statusCode).toBe(404);
    const after = (await api.app.inject({ url: "/metrics" })).body;

    const delta = (line: string) => counted(after, line) - counted(before.body, line);
    expect(delta('uptier_http_requests_total{method="POST",route="/v1/check",status="200"}')).toBe(3);
    expect(delta('uptier_http_requests_total{method="POST",route="/v1/check",status="400"}')).toBe(1);
    expect(delta('uptier_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(delta(`${NAME}_count{method="POST",route="/v1/check"}`)).toBe(4);
    expect(delta(`${NAME}_bucket{le="+Inf",method="POST",route="/v1/check"}`)).toBe(4);
    expect(counted(after, `${NAME}_sum{method="POST",route="/v1/check"}`)).toBeGreaterThan(0);
    expect(after).toContain(`# TYPE ${NAME} histogram`);
    expect(after).toContain("# TYPE uptier_http_requests_total counter");
  });
});
