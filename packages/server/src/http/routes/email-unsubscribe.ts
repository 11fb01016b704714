import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { recipientByToken, unsubscribe } from "../../services/email/recipients.ts";
import { type RouteContext, typed } from "../route-kit.ts";

/**
 * The unsubscribe link of every email, opened by a person or POSTed by their mail client (RFC
 * 8058 one-click). It carries no API key: the token in the link is the authority. A GET only shows
 * a confirmation button, because mail scanners open links on their own; the POST unsubscribes.
 */
const TokenQuery = z
  .object({ token: z.string().min(1).max(256).describe("The token from the email's link") })
  .strict();

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** j•••@example.com: enough for its owner to recognise, little for anyone else. */
function masked(address: string): string {
  const at = address.lastIndexOf("@");
  return at <= 0 ? "•••" : `${address[0]}•••${address.slice(at)}`;
}

function page(reply: FastifyReply, title: string, body: string) {
  return reply
    .code(200)
    .type("text/html; charset=utf-8")
    .headers({
      "cache-control": "no-store",
      // the token is in the URL: it must not leak to another site
      "referrer-policy": "no-referrer",
      "x-robots-tag": "noindex",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    })
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}</style></head><body><h1>${title}</h1>${body}</body></html>`,
    );
}

const done = (reply: FastifyReply, address: string) =>
  page(
    reply,
    "You are unsubscribed",
    `<p>${escapeHtml(masked(address))} will not receive these emails again.</p>`,
  );

/** RFC 8058's body, `List-Unsubscribe=One-Click`, as a form (urlencoded or multipart). */
const ONE_CLICK = /List-Unsubscribe[\s\S]*One-Click/;

export function unsubscribeRoutes(app: FastifyInstance, ctx: RouteContext) {
  app.addContentTypeParser(
    ["application/x-www-form-urlencoded", "multipart/form-data"],
    { parseAs: "string", bodyLimit: 4096 },
    (_request, body, parsed) => parsed(null, { one_click: ONE_CLICK.test(String(body)) }),
  );
  const r = typed(app);
  r.get(
    "/v1/email/unsubscribe",
    {
      schema: {
        tags: ["email"],
        summary: "The unsubscribe page of an email's link (a confirmation button; no API key)",
        security: [],
        querystring: TokenQuery,
      },
    },
    async (request, reply) => {
      const recipient = await recipientByToken(ctx.db, request.query.token);
      if (recipient.suppressed) return done(reply, recipient.address);
      return page(
        reply,
        "Unsubscribe",
        `<p>Stop these emails to ${escapeHtml(masked(recipient.address))}?</p><form method="post"><button type="submit">Unsubscribe</button></form>`,
      );
    },
  );
  r.post(
    "/v1/email/unsubscribe",
    {
      schema: {
        tags: ["email"],
        summary: "Unsubscribe: the page's button, or a mail client's one-click POST (RFC 8058; no API key)",
        security: [],
        querystring: TokenQuery,
      },
    },
    async (request, reply) => {
      const oneClick = (request.body as { one_click?: boolean } | undefined)?.one_click === true;
      const recipient = await unsubscribe(
        ctx.db,
        request.query.token,
        oneClick ? "one_click" : "link",
        ctx.clock(),
      );
      return done(reply, recipient.address);
    },
  );
}
