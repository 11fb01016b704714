/** One problem in a document a vendor sends (the playbook): where, why, and where in its text. */
export interface DocumentIssue {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * A refusal by the domain: a stable machine `code` (the API's problem `code`), a sentence for a
 * person, and the offending parameter. No HTTP status: the HTTP layer maps codes to statuses in one
 * table (http/problem.ts), so jobs and event consumers call the same verbs with no HTTP semantics.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: {
      readonly param?: string;
      readonly errors?: readonly { readonly param: string; readonly message: string }[];
      /** a document refused whole (the playbook): every issue, at its line and column when it came as text */
      readonly issues?: readonly DocumentIssue[];
    } = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) =>
  new DomainError("resource_not_found", `No ${what} with id "${id}".`, { param: "id" });
