import type { RenderedCopy } from "../../db/schema/index.ts";

/**
 * A play's message as an email: the HTML part from the copy rendered with every value escaped, the
 * text part from the same copy rendered plain. The call to action links to the vendor's app when
 * its address is configured (UPTIER_APP_URL), with the prompt's id so the app can open it.
 */
export function playEmail(
  copy: { readonly html: RenderedCopy; readonly plain: RenderedCopy },
  cta: { readonly appUrl: string | null; readonly prompt: string | null },
): { subject: string; html: string; text: string } {
  const link = cta.appUrl ? ctaUrl(cta.appUrl, cta.prompt) : null;
  const button = copy.html.cta
    ? link
      ? `<p><a href="${escapeAttribute(link)}" style="display:inline-block;padding:10px 16px;background:#4f46e5;color:#fff;border-radius:6px;text-decoration:none">${copy.html.cta}</a></p>`
      : `<p><strong>${copy.html.cta}</strong></p>`
    : "";
  const html =
    `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5">` +
    `<h2>${copy.html.title}</h2><p>${copy.html.body}</p>${button}</body></html>`;
  const action = copy.plain.cta ? `\n\n${copy.plain.cta}${link ? `: ${link}` : ""}` : "";
  return { subject: copy.plain.title, html, text: `${copy.plain.body}${action}\n` };
}

function ctaUrl(appUrl: string, prompt: string | null): string {
  const url = new URL(appUrl);
  if (prompt) url.searchParams.set("uptier_prompt", prompt);
  return url.toString();
}

const escapeAttribute = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
