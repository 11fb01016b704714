import { eq } from "drizzle-orm";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accounts, idempotencyKeys } from "../../src/db/schema/index.ts";
import { respondIdempotent } from "../../src/http/plugins/idempotency.ts";
import { registerProblemHandlers } from "../../src/http/problem.ts";
import { createSecretKey } from "../../src/services/accounts/api-keys.ts";
import { DomainError } from "../../src/services/errors.ts";
import { useTestApi } from "../support/harness.ts";

/**
 * A refusal met by a request that started is recorded under its Idempotency-Key, and nothing of
 * what the refused work wrote stands (http/plugins/idempotency.ts: the work runs in a savepoint of
 * the key's transaction). A route of its own writes a row, then refuses. On PGlite and PostgreSQL.
 */
const api = useTestApi({ catalog: false });
let app: FastifyInstance;
let runs = 0;

beforeAll(async () => {
  const key = await createSecretKey(api.database.db, "refusals", api.clock());
  app = Fastify();
  registerProblemHandlers(app);
  app.addHook("onRequest", async (request) => {
    request.caller = { apiKeyId: key.id };
  });
  app.post("/write-then-refuse", (request, reply) =>
    respondIdempotent({ db: api.database.db }, request, reply, async (tx) => {
      runs++;
      await tx.insert(accounts).values({
        id: `acct_refused_${runs}`,
        externalId: `refused-${runs}`,
        name: "Refused",
        createdAt: api.clock(),
        updatedAt: api.clock(),
      });
      const { code } = request.body as { code: string };
      throw new DomainError(code, `Refused (${code}) after writing an account.`, { param: "code" });
    }),
  );
  await app.ready();
});
afterAll(() => app.close());

const send = (code: string, key: string) =>
  app.inject({
    method: "POST",
    url: "/write-then-refuse",
    payload: { code },
    headers: { "idempotency-key": key },
  });

describe("a refusal after the work wrote something", () => {
  it("is recorded and replayed; what the work wrote is undone", async () => {
    const first = await send("quote_stale", "refusal-1");
    expect([first.statusCode, first.json().code]).toEqual([409, "quote_stale"]);
    const replay = await send("quote_stale", "refusal-1");
    expect(replay.statusCode).toBe(409);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body).toBe(first.body);
    expect(runs).toBe(1);
    expect(await api.database.db.select().from(accounts).where(eq(accounts.externalId, "refused-1"))).toEqual(
      [],
    );
    const [row] = await api.database.db
      .select()
      .from(idempotencyKeys)
      .where(eq(idempotencyKeys.key, "refusal-1"));
    expect(row?.statusCode).toBe(409);
  });

  it("is not recorded when it is about the request's form, nor for a conflict with a running request", async () => {
    for (const [code, status] of [
      ["duplicate_add_on", 400],
      ["checkout_in_progress", 409],
    ] as const) {
      const before = runs;
      const first = await send(code, `refusal-${code}`);
      const again = await send(code, `refusal-${code}`);
      expect([first.statusCode, again.statusCode, again.headers["idempotent-replayed"]]).toEqual([
        status,
        status,
        undefined,
      ]);
      expect(runs).toBe(before + 2);
      expect(
        await api.database.db
          .select()
          .from(idempotencyKeys)
          .where(eq(idempotencyKeys.key, `refusal-${code}`)),
      ).toEqual([]);
    }
    expect(await api.database.db.select().from(accounts)).toEqual([]);
  });
});
