import type { SendMailOptions } from "nodemailer";

/** The path of the unsubscribe page and its one-click POST (RFC 8058). */
export const UNSUBSCRIBE_PATH = "/v1/email/unsubscribe";

export function unsubscribeUrl(publicUrl: string, token: string): string {
  const url = new URL(UNSUBSCRIBE_PATH, publicUrl);
  url.searchParams.set("token", token);
  return url.toString();
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The HTML body with the unsubscribe link before </body> (or at the end). */
function htmlWithFooter(html: string, url: string): string {
  const footer = `<p style="font-size:12px;color:#666">You are receiving this because of your account. <a href="${escapeHtml(url)}">Unsubscribe</a></p>`;
  const end = html.search(/<\/body>/i);
  return end === -1 ? `${html}\n${footer}` : `${html.slice(0, end)}${footer}${html.slice(end)}`;
}

export interface StoredEmail {
  readonly id: string;
  readonly to: string;
  readonly subject: string;
  readonly html: string;
  readonly text: string;
}

/**
 * The message as sent: both parts carry the recipient's unsubscribe link, and List-Unsubscribe
 * with List-Unsubscribe-Post lets a mail client unsubscribe in one click without opening it. The
 * Message-ID comes from the message's id, so a retry is recognisably the same message.
 */
export function composeEmail(
  email: StoredEmail,
  options: { readonly from: string; readonly publicUrl: string; readonly token: string },
): SendMailOptions {
  const url = unsubscribeUrl(options.publicUrl, options.token);
  return {
    from: options.from,
    to: email.to,
    subject: email.subject,
    text: `${email.text}\n\n--\nUnsubscribe: ${url}\n`,
    html: htmlWithFooter(email.html, url),
    messageId: `<${email.id}@${new URL(options.publicUrl).hostname}>`,
    list: { unsubscribe: url },
    headers: { "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
  };
}
