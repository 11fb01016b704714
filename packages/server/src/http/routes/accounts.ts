import {
  AccountResponse,
  CreateAccountInput,
  IdParams,
  ListAccountsQuery,
  listOf,
  NoQuery,
  UpdateAccountInput,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { createAccount, getAccount, listAccounts, updateAccount } from "../../services/accounts/accounts.ts";
import { type RouteContext, respondIdempotent, typed } from "../route-kit.ts";

export function accountRoutes(app: FastifyInstance, ctx: RouteContext) {
  const r = typed(app);
  r.post(
    "/v1/accounts",
    {
      schema: {
        tags: ["accounts"],
        summary: "Create an account",
        body: CreateAccountInput,
        response: { 201: AccountResponse },
      },
    },
    (request, reply) =>
      respondIdempotent(ctx, request, reply, async (tx) => ({
        status: 201,
        body: await createAccount(tx, request.body, ctx.clock()),
      })),
  );
  r.get(
    "/v1/accounts",
    {
      schema: {
        tags: ["accounts"],
        summary: "List accounts, newest first",
        querystring: ListAccountsQuery,
        response: { 200: listOf(AccountResponse) },
      },
    },
    (request) => listAccounts(ctx.db, request.query, ctx.clock()),
  );
  r.get(
    "/v1/accounts/:id",
    {
      schema: {
        tags: ["accounts"],
        summary: "Retrieve an account",
        params: IdParams,
        querystring: NoQuery,
        response: { 200: AccountResponse },
      },
    },
    (request) => getAccount(ctx.db, request.params.id, ctx.clock()),
  );
  r.patch(
    "/v1/accounts/:id",
    {
      schema: {
        tags: ["accounts"],
        summary: "Update an account",
        params: IdParams,
        body: UpdateAccountInput,
        response: { 200: AccountResponse },
      },
    },
    (request) => ctx.db.transaction((tx) => updateAccount(tx, request.params.id, request.body, ctx.clock())),
  );
}
