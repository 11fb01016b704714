import Mustache from "mustache";

/**
 * A play's copy: logic-less mustache templates holding only text and `{{variable}}` tags, every
 * value HTML-escaped. Sections, inverted sections, partials, unescaped tags (`{{{ }}}`, `{{& }}`)
 * and delimiter changes are refused: copy decides nothing and never writes raw HTML.
 */

/** One problem in a template, at a character offset of its source. */
export interface TemplateIssue {
  readonly message: string;
  readonly offset: number;
}

export type TemplateParse =
  | { readonly ok: true; readonly variables: readonly string[] }
  | {
      readonly ok: false;
      readonly issues: readonly TemplateIssue[];
      /** the variables of the tags that could be read */
      readonly variables: readonly string[];
    };

type Token = [type: string, value: string, start: number, end: number, ...rest: unknown[]];

// A writer of our own, without a cache: parsed copy is not kept for the life of the process, and
// nothing another module sets on mustache's default writer reaches this one.
const writer = new Mustache.Writer();
(writer as { templateCache?: unknown }).templateCache = undefined;
const escapeHtml = Mustache.escape;

const REFUSED: Record<string, string> = {
  "#": "sections are not allowed: copy is logic-less",
  "^": "inverted sections are not allowed: copy is logic-less",
  "/": "sections are not allowed: copy is logic-less",
  ">": "partials are not allowed",
  "&": "unescaped output is not allowed: every value is HTML-escaped",
  "=": "changing the delimiters is not allowed",
};

function tokens(template: string): Token[] | TemplateIssue {
  try {
    return writer.parse(template) as Token[];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = /at (\d+)$/.exec(message);
    return { message: message.replace(/ at \d+$/, ""), offset: at ? Number(at[1]) : 0 };
  }
}

/** The variable names a template uses, in order of first use, or what makes it unusable. */
export function templateVariables(template: string): TemplateParse {
  const parsed = tokens(template);
  if (!Array.isArray(parsed)) return { ok: false, issues: [parsed], variables: [] };
  const issues: TemplateIssue[] = [];
  const variables: string[] = [];
  for (const [type, value, start] of parsed) {
    if (type === "name") {
      if (!variables.includes(value)) variables.push(value);
    } else if (type !== "text" && type !== "!") {
      issues.push({ message: REFUSED[type] ?? `"${type}" tags are not allowed`, offset: start });
    }
  }
  return issues.length > 0 ? { ok: false, issues, variables } : { ok: true, variables };
}

/**
 * Renders a template with its variables' values, each HTML-escaped. A variable without a value
 * renders empty (mustache's rule); `templateVariables` tells which ones a template needs.
 * Throws on a template `templateVariables` refuses: a validated playbook never holds one.
 */
export function renderTemplate(
  template: string,
  values: Readonly<Record<string, string | number | undefined>>,
): string {
  return render(template, values, escapeHtml);
}

/** renderTemplate for plain text (an email's text part, its subject): the values as they are. */
export function renderTemplateText(
  template: string,
  values: Readonly<Record<string, string | number | undefined>>,
): string {
  return render(template, values, String);
}

function render(
  template: string,
  values: Readonly<Record<string, string | number | undefined>>,
  escapeValue: (text: string) => string,
): string {
  const parsed = tokens(template);
  if (!Array.isArray(parsed)) throw new Error(`template: ${parsed.message} at ${parsed.offset}`);
  let out = "";
  for (const [type, value, start] of parsed) {
    if (type === "text") out += value;
    else if (type === "name") {
      const v = Object.hasOwn(values, value) ? values[value] : undefined;
      out += v === undefined ? "" : escapeValue(String(v));
    } else if (type !== "!") throw new Error(`template: ${REFUSED[type] ?? type} at ${start}`);
  }
  return out;
}
