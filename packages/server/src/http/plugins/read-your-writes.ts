import type { FastifyInstance, FastifyRequest } from "fastify";
import type { DomainEventLog } from "../../services/events/log-reader.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** set by skipCatchUp */
    uptierNoCatchUp: boolean;
  }
}

/**
 * Marks a non-GET request after which the caches need no read of the domain-event log: it changed
 * nothing they are computed from (a check without `record`), or it invalidated what it changed
 * itself (usage events, a checkout).
 */
export function skipCatchUp(request: FastifyRequest): void {
  request.uptierNoCatchUp = true;
}

/**
 * Read-your-writes: after a committed change (a plan change, a cancellation, a checkout) the log is
 * read before the answer is sent, so the very next check on this node sees it.
 */
export function readYourWrites(app: FastifyInstance, log: DomainEventLog): void {
  // Declared, so every request is built with the flag: setting it then keeps the request's shape.
  app.decorateRequest("uptierNoCatchUp", false);
  app.addHook("onSend", (request, reply, payload, done) => {
    if (
      request.method === "GET" ||
      request.method === "HEAD" ||
      reply.statusCode >= 400 ||
      request.uptierNoCatchUp
    ) {
      done(null, payload);
      return;
    }
    // The write has committed and the payload reports it: a failed catch-up must not turn it into
    // an error (retried without an Idempotency-Key, it would be done twice). The next regular poll
    // re-reads the events; until then this node answers from its cache as it stood.
    log.catchUp().then(
      () => done(null, payload),
      (error: unknown) => {
        request.log.warn(
          { err: error },
          "read-your-writes catch-up failed after a committed write; the next poll of the domain-event log catches up",
        );
        done(null, payload);
      },
    );
  });
}
