import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** Prometheus metrics at /metrics: request counts and latencies by route, plus Node's defaults. */
export function registerMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Request counts are kept in plain per-(method, route, status) cells and added to the counter when
  // it is collected (at a scrape): a request costs an increment, no label hashing. The histogram's
  // label children are bound once per method and route.
  interface Cell {
    readonly labels: { method: string; route: string; status: number };
    pending: number;
    readonly histogram: { observe: (seconds: number) => void };
  }
  const cells = new Map<string, Map<string, Cell>>();
  new Counter({
    name: "uptier_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
    collect() {
      for (const byKey of cells.values())
        for (const cell of byKey.values())
          if (cell.pending > 0) {
            this.inc(cell.labels, cell.pending);
            cell.pending = 0;
          }
    },
  });
  const duration = new Histogram({
    name: "uptier_http_request_duration_seconds",
    help: "HTTP request latency by method and route",
    labelNames: ["method", "route"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const cellOf = (method: string, route: string, status: number): Cell => {
    let byKey = cells.get(route);
    if (!byKey) {
      byKey = new Map();
      cells.set(route, byKey);
    }
    const key = `${method} ${status}`;
    let cell = byKey.get(key);
    if (!cell) {
      const child = duration.labels({ method, route });
      cell = { labels: { method, route, status }, pending: 0, histogram: child };
      byKey.set(key, cell);
    }
    return cell;
  };
  app.addHook("onResponse", (request, reply, done) => {
    const cell = cellOf(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode);
    cell.pending++;
    cell.histogram.observe(reply.elapsedTime / 1000);
    done();
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return registry;
}
