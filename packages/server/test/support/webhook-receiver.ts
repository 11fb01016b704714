import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the receiver got: its headers and the exact body bytes (as text). */
export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** What the receiver answers: a status and body, or "hang" to never answer. */
export type Answer = { readonly status: number; readonly body?: string } | "hang";

/**
 * A real HTTP server on 127.0.0.1 standing in for a vendor's endpoint: it records every request
 * and answers from a script (then `fallback` once the script is used up).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  script: Answer[] = [];
  fallback: Answer = { status: 200, body: "ok" };
  private readonly server: Server;
  private readonly hung = new Set<() => void>();

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        this.received.push({
          path: request.url ?? "/",
          headers: request.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        const answer = this.script.shift() ?? this.fallback;
        if (answer === "hang") {
          this.hung.add(() => response.destroy());
          return;
        }
        response.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body ?? "");
      });
    });
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  url(path = "/hooks"): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    for (const end of this.hung) end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
