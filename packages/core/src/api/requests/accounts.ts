import { z } from "zod";
import { MEMBER_STATUSES, Role } from "../fields.ts";
import { AuthorizeInput } from "./billing.ts";
import { ListQuery, ResourceId } from "./common.ts";

const Properties = z
  .record(z.string().min(1).max(100), z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]))
  .refine((p) => Object.keys(p).length <= 100, "at most 100 properties");

export const CreateAccountInput = z
  .object({
    external_id: z.string().min(1).max(255).describe("The account's id in your product"),
    name: z.string().min(1).max(500),
    properties: Properties.default({}),
  })
  .strict();

export const UpdateAccountInput = z
  .object({
    name: z.string().min(1).max(500).optional(),
    /** merged into the stored properties; a null value removes the key (Stripe's metadata rule) */
    properties: Properties.optional(),
  })
  .strict();

export const ListAccountsQuery = ListQuery.extend({ external_id: z.string().max(255).optional() }).strict();

const Email = z.string().max(320).pipe(z.email());

export const CreateMemberInput = z
  .object({
    email: Email,
    role: Role.default("member"),
    user_id: z.string().min(1).max(255).optional().describe("The person's user id in your product"),
    status: z.enum(["invited", "active"]).default("invited"),
    invited_by: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe(
        "Who sends the invite (a member id or your user id), named in a refusal's member.invite_refused event",
      ),
    authorize: AuthorizeInput.optional().describe(
      "Buy the extra seat this invite needs: the quote from members/preview and the admin authorising it",
    ),
  })
  .strict();

export const UpdateMemberInput = z
  .object({
    role: Role.optional(),
    status: z.enum(MEMBER_STATUSES).optional(),
    user_id: z.string().min(1).max(255).optional(),
  })
  .strict();

export const ListMembersQuery = ListQuery.extend({ status: z.enum(MEMBER_STATUSES).optional() }).strict();

export const MemberParams = z.object({ id: ResourceId, member: ResourceId }).strict();

/** An invite asked about before it is sent: does it need another paid seat, and what does that cost? */
export const PreviewInviteInput = z.object({ email: Email, role: Role.default("member") }).strict();
