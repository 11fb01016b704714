import { z } from "zod";
import { MEMBER_PROPERTY_BOUNDS } from "../../accounts/member.ts";
import { isSegment, SEGMENT_PROPERTY, SEGMENTS } from "../../accounts/segment.ts";
import { MEMBER_STATUSES, Role } from "../fields.ts";
import { AuthorizeInput } from "./billing.ts";
import { ListQuery, ResourceId } from "./common.ts";

const Properties = z
  .record(z.string().min(1).max(100), z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]))
  .refine((p) => Object.keys(p).length <= 100, "at most 100 properties")
  .refine((p) => p[SEGMENT_PROPERTY] == null || isSegment(p[SEGMENT_PROPERTY]), {
    message: `the segment is one of ${SEGMENTS.join(", ")} (null removes it)`,
    path: [SEGMENT_PROPERTY],
  });

/**
 * A member's properties (title, department, seniority…): scalars the plays' `member:` audience
 * rules test. A null value removes the key on update (Stripe's metadata rule); the stored object
 * holds at most MEMBER_PROPERTY_BOUNDS.keys keys after the merge too.
 */
const MemberProperties = z
  .record(
    z.string().min(1).max(MEMBER_PROPERTY_BOUNDS.keyLength),
    z.union([z.string().max(MEMBER_PROPERTY_BOUNDS.stringLength), z.number(), z.boolean(), z.null()]),
  )
  .refine(
    (p) => Object.keys(p).length <= MEMBER_PROPERTY_BOUNDS.keys,
    `at most ${MEMBER_PROPERTY_BOUNDS.keys} properties`,
  );

/** A person's name as the copy greets them: not blank. */
const MemberName = z.string().max(500).regex(/\S/, "a name is not blank");

export const CreateAccountInput = z
  .object({
    external_id: z.string().min(1).max(255).describe("The account's id in your product"),
    name: z.string().min(1).max(500),
    properties: Properties.default({}),
    test_clock: z
      .string()
      .regex(/^clock_[0-9A-Za-z]{1,40}$/, "is not a test clock id")
      .optional()
      .describe(
        "A test clock (clock_…) the account lives by, from its creation on: its billing runs when the clock advances",
      ),
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
    name: MemberName.optional().describe("The person's name, as prompts greet them (member.name)"),
    role: Role.default("member"),
    user_id: z.string().min(1).max(255).optional().describe("The person's user id in your product"),
    properties: MemberProperties.default({}).describe(
      "Scalars the plays' member audience rules test (title, department…); null values are dropped",
    ),
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
    name: MemberName.nullable().optional().describe("null removes the name"),
    role: Role.optional(),
    status: z.enum(MEMBER_STATUSES).optional(),
    user_id: z.string().min(1).max(255).optional(),
    /** merged into the stored properties; a null value removes the key */
    properties: MemberProperties.optional().describe(
      "Merged into the stored properties; a null value removes the key",
    ),
  })
  .strict();

export const ListMembersQuery = ListQuery.extend({ status: z.enum(MEMBER_STATUSES).optional() }).strict();

export const MemberParams = z.object({ id: ResourceId, member: ResourceId }).strict();

/** An invite asked about before it is sent: does it need another paid seat, and what does that cost? */
export const PreviewInviteInput = z.object({ email: Email, role: Role.default("member") }).strict();
