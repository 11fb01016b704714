import {
  CreateMemberInput,
  IdParams,
  ListMembersQuery,
  listOf,
  MemberParams,
  MemberResponse,
  NoQuery,
  UpdateMemberInput,
} from "@uptier/core/api";
import type { FastifyInstance } from "fastify";
import { findMember, listMembers, memberView, updateMember } from "../../services/accounts/members.ts";
import { type RouteContext, typed } from "../route-kit.ts";
import { inviteMember } from "./seat-purchase.ts";

export function memberRoutes(app: FastifyInstance, ctx: RouteContext) {
  const r = typed(app);
  r.post(
    "/v1/accounts/:id/members",
    {
      schema: {
        tags: ["members"],
        summary: "Invite or add a member (takes a seat)",
        params: IdParams,
        body: CreateMemberInput,
        response: { 201: MemberResponse },
      },
    },
    (request, reply) => inviteMember(ctx, request, reply, request.params.id, request.body),
  );
  r.get(
    "/v1/accounts/:id/members",
    {
      schema: {
        tags: ["members"],
        summary: "List an account's members",
        params: IdParams,
        querystring: ListMembersQuery,
        response: { 200: listOf(MemberResponse) },
      },
    },
    (request) => listMembers(ctx.db, request.params.id, request.query),
  );
  r.get(
    "/v1/accounts/:id/members/:member",
    {
      schema: {
        tags: ["members"],
        summary: "Retrieve a member",
        params: MemberParams,
        querystring: NoQuery,
        response: { 200: MemberResponse },
      },
    },
    async (request) => memberView(await findMember(ctx.db, request.params.id, request.params.member)),
  );
  r.patch(
    "/v1/accounts/:id/members/:member",
    {
      schema: {
        tags: ["members"],
        summary: "Update a member (role, status, user id)",
        params: MemberParams,
        body: UpdateMemberInput,
        response: { 200: MemberResponse },
      },
    },
    (request) =>
      ctx.db.transaction((tx) =>
        updateMember(tx, request.params.id, request.params.member, request.body, ctx.clock()),
      ),
  );
  r.delete(
    "/v1/accounts/:id/members/:member",
    {
      schema: {
        tags: ["members"],
        summary: "Remove a member (frees the seat)",
        params: MemberParams,
        response: { 200: MemberResponse },
      },
    },
    (request) =>
      ctx.db.transaction((tx) =>
        updateMember(tx, request.params.id, request.params.member, { status: "removed" }, ctx.clock()),
      ),
  );
}
