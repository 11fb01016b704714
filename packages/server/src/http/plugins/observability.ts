import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, type Histogram, Registry } from "prom-client";

export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const;

interface StatusCell {
  readonly labels: { method: string; route: string; status: number };
  pending: number;
}

/** What one method and route has seen since the start: latencies by bucket, and requests by status. */
interface RouteCell {
  readonly labels: { method: string; route: string };
  /** observations per bucket (not cumulative; the last slot counts those above every bound) */
  readonly buckets: number[];
  sum: number;
  count: number;
  readonly statuses: Map<number, StatusCell>;
}

/** One exported line, in the shape prom-client's Histogram hands its registry. */
interface HistogramValue {
  readonly labels: { le?: number | "+Inf" };
  readonly sharedLabels: RouteCell["labels"];
  readonly value: number;
  readonly metricName: string;
  readonly exemplar?: null;
}

/**
 * Request latencies by method and route as a Prometheus histogram. A request costs a bucket
 * increment in its route's cell; the cumulative buckets are built only when /metrics is scraped.
 * prom-client's Histogram hashes its labels on every observe (a few µs on the hot path of
 * POST /v1/check). The exposition is the same as that Histogram's, line for line: the values
 * below have its shape and the registry formats them (a test compares the two).
 */
export class RouteLatencyHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly cells: RouteCell[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[] = LATENCY_BUCKETS_SECONDS,
  ) {}

  /** A new cell for a method and route, observed from then on (in the order cells are created). */
  cell(method: string, route: string): RouteCell {
    const cell: RouteCell = {
      labels: { method, route },
      buckets: new Array(this.bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
      statuses: new Map(),
    };
    this.cells.push(cell);
    return cell;
  }

  observe(cell: RouteCell, seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (cell.buckets[i] as number)++;
    cell.sum += seconds;
    cell.count++;
  }

  async getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: HistogramValue[] = [];
    for (const cell of this.cells) {
      if (cell.count === 0) continue;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += cell.buckets[i] as number;
        values.push({
          labels: { le },
          sharedLabels: cell.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: cell.labels,
          value: cell.count,
          metricName: bucket,
          exemplar: null,
        },
        { labels: {}, sharedLabels: cell.labels, value: cell.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: cell.labels, value: cell.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As prom-client's get(): the shared labels folded into each value's labels. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...value }) => ({
        ...value,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  reset(): void {
    for (const cell of this.cells) {
      cell.buckets.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }
}

/** Prometheus metrics at /metrics: request counts and latencies by route, plus Node's defaults. */
export function registerMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const routes = new Map<string, Map<string, RouteCell>>();
  // Request counts are kept in plain per-(method, route, status) cells and added to the counter when
  // it is collected (at a scrape): a request costs an increment, no label hashing.
  new Counter({
    name: "uptier_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
    collect() {
      for (const byMethod of routes.values())
        for (const cell of byMethod.values())
          for (const status of cell.statuses.values())
            if (status.pending > 0) {
              this.inc(status.labels, status.pending);
              status.pending = 0;
            }
    },
  });
  const latency = new RouteLatencyHistogram(
    "uptier_http_request_duration_seconds",
    "HTTP request latency by method and route",
  );
  // The registry only reads a metric's name, help, type and values (get/getForPromString) and resets it.
  registry.registerMetric(latency as unknown as Histogram);

  const cellOf = (method: string, route: string): RouteCell => {
    let byMethod = routes.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      routes.set(route, byMethod);
    }
    let cell = byMethod.get(method);
    if (cell === undefined) {
      cell = latency.cell(method, route);
      byMethod.set(method, cell);
    }
    return cell;
  };
  app.addHook("onResponse", (request, reply, done) => {
    const cell = cellOf(request.method, request.routeOptions.url ?? "unmatched");
    const status = reply.statusCode;
    let counted = cell.statuses.get(status);
    if (counted === undefined) {
      counted = { labels: { ...cell.labels, status }, pending: 0 };
      cell.statuses.set(status, counted);
    }
    counted.pending++;
    latency.observe(cell, reply.elapsedTime / 1000);
    done();
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return registry;
}
