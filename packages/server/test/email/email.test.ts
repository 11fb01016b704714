import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, smtpSettings } from "../../src/config.ts";
import { emailMessages, emailRecipients } from "../../src/db/schema/index.ts";
import { type Mailer, smtpMailer } from "../../src/services/email/mailer.ts";
import { type EmailToSend, queueEmail } from "../../src/services/email/outbox.ts";
import { tableSnapshot, useTestApi } from "../support/harness.ts";
import { rawHeader, SmtpCatcher } from "../support/smtp-catcher.ts";

/**
 * Email end to end: the mailer sends over SMTP to an in-process server (smtp-server), and the
 * unsubscribe link of what arrived is followed through the API, as a person or a mail client would.
 */
const api = useTestApi({ catalog: false });
let smtp: SmtpCatcher;
let mailer: Mailer;
const PUBLIC_URL = "https://uptier.acme.test";
const MINUTE = 60_000;

beforeAll(async () => {
  smtp = await SmtpCatcher.start();
  mailer = smtpMailer(
    api.database.db,
    { smtpUrl: smtp.url, from: "Acme Growth <growth@acme.test>", publicUrl: PUBLIC_URL },
    { clock: api.clock },
  );
});
afterAll(async () => {
  await mailer.stop();
  await smtp.close();
});
beforeEach(() => {
  smtp.messages.length = 0;
  smtp.refuseNext = [];
  smtp.refuseRecipients.clear();
});

let keys = 0;
const email = (to: string, extra: Partial<EmailToSend> = {}): EmailToSend => ({
  key: `test:${++keys}`,
  to,
  subject: "You're at 80% of your API calls",
  html: "<html><body><p>Upgrade to <b>Pro</b> for $99/month.</p></body></html>",
  text: "Upgrade to Pro for $99/month.",
  account: null,
  ...extra,
});

/** The path and query of a message's List-Unsubscribe URL, to send to the app. */
function unsubscribePathOf(mail: (typeof smtp.messages)[number]): string {
  const header = rawHeader(mail, "list-unsubscribe") ?? "";
  const url = new URL(header.replace(/^<|>$/g, ""));
  expect(url.origin).toBe(PUBLIC_URL);
  return `${url.pathname}${url.search}`;
}

/** A request with no API key: the recipient of an email has none. */
const anonymous = (method: "GET" | "POST", url: string, form?: string) =>
  api.app.inject({
    method,
    url,
    ...(form === undefined
      ? {}
      : { payload: form, headers: { "content-type": "application/x-www-form-urlencoded" } }),
  });

const recipient = async (address: string) =>
  (await api.database.db.select().from(emailRecipients).where(eq(emailRecipients.address, address)))[0];

describe("sending", () => {
  it("sends HTML and text with the unsubscribe link in both and the one-click headers", async () => {
    const sent = await mailer.send(email("ada@example.test"));
    expect(sent).toMatchObject({ status: "sent", duplicate: false });
    expect(smtp.messages).toHaveLength(1);
    const [mail] = smtp.messages;
    if (!mail) throw new Error("no message");
    expect(mail.subject).toBe("You're at 80% of your API calls");
    expect(mail.from?.text).toBe('"Acme Growth" <growth@acme.test>');
    expect(mail.text).toContain("Upgrade to Pro for $99/month.");
    expect(mail.html).toContain("<p>Upgrade to <b>Pro</b> for $99/month.</p>");
    const path = unsubscribePathOf(mail);
    expect(path).toMatch(/^\/v1\/email\/unsubscribe\?token=[A-Za-z0-9_-]{32}$/);
    expect(mail.text).toContain(`Unsubscribe: ${PUBLIC_URL}${path}`);
    expect(mail.html).toContain(`<a href="${PUBLIC_URL}${path}">Unsubscribe</a></p></body>`);
    expect(rawHeader(mail, "list-unsubscribe-post")).toBe("List-Unsubscribe=One-Click");
    expect(mail.messageId).toBe(`<${sent.id}@uptier.acme.test>`);
  });

  it("sends a message key once, however often it is sent", async () => {
    const message = email("bob@example.test");
    expect((await mailer.send(message)).status).toBe("sent");
    const again = await mailer.send({ ...message, subject: "changed" });
    expect(again).toMatchObject({ status: "sent", duplicate: true });
    expect(smtp.messages).toHaveLength(1);
  });

  it("retries a temporary SMTP refusal after the schedule's wait, then sends", async () => {
    smtp.refuseNext = [{ code: 451, message: "Try again later" }];
    const first = await mailer.send(email("cy@example.test"));
    expect(first.status).toBe("queued");
    const [row] = await api.database.db.select().from(emailMessages).where(eq(emailMessages.id, first.id));
    expect(row).toMatchObject({ attempts: 1, nextAttemptAt: new Date(api.clock().getTime() + MINUTE) });
    expect(row?.lastError).toContain("Try again later");
    expect(await mailer.deliverDue()).toMatchObject({ attempted: 0 });
    api.clock.advance(MINUTE);
    expect(await mailer.deliverDue()).toMatchObject({ attempted: 1, sent: 1 });
    expect(smtp.messages).toHaveLength(1);
    const [after] = await api.database.db.select().from(emailMessages).where(eq(emailMessages.id, first.id));
    expect(after).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("fails a message the server refuses for good, without retrying", async () => {
    smtp.refuseRecipients.set("nobody@example.test", { code: 550, message: "No such user" });
    const refused = await mailer.send(email("nobody@example.test"));
    expect(refused.status).toBe("failed");
    api.clock.advance(60 * MINUTE);
    expect(await mailer.deliverDue()).toMatchObject({ attempted: 0 });
  });

  it("queues in the caller's transaction: a rollback sends nothing; the worker sends what committed", async () => {
    const before = await tableSnapshot(api.database);
    await expect(
      api.database.db.transaction(async (tx) => {
        await queueEmail(tx, email("dee@example.test"), api.clock());
        throw new Error("the play's transaction failed");
      }),
    ).rejects.toThrow("the play's transaction failed");
    expect(await tableSnapshot(api.database)).toEqual(before);

    await api.database.db.transaction((tx) => queueEmail(tx, email("dee@example.test"), api.clock()));
    const worker = smtpMailer(
      api.database.db,
      { smtpUrl: smtp.url, from: "growth@acme.test", publicUrl: PUBLIC_URL },
      { clock: api.clock },
    );
    worker.start(20);
    try {
      for (let i = 0; smtp.messages.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await worker.stop();
    }
    expect(smtp.messages.map((m) => m.to && !Array.isArray(m.to) && m.to.text)).toEqual(["dee@example.test"]);
  });

  it("refuses what cannot be a message, before writing anything", async () => {
    for (const [bad, param] of [
      [{ to: "not-an-address" }, "to"],
      [{ to: "a@b.test\r\nBcc: all@b.test" }, "to"],
      [{ subject: "two\r\nlines" }, "subject"],
      [{ key: "" }, "key"],
    ] as const) {
      await expect(mailer.send(email("x@example.test", bad))).rejects.toMatchObject({
        code: "invalid_email",
        extra: { param },
      });
    }
    expect(smtp.messages).toEqual([]);
  });
});

describe("unsubscribing", () => {
  it("the link shows a confirmation; the one-click POST suppresses the address, which is never mailed again", async () => {
    await mailer.send(email("eve@example.test"));
    const [mail] = smtp.messages;
    if (!mail) throw new Error("no message");
    const path = unsubscribePathOf(mail);

    // opening the link (as a scanner might) only asks
    const shown = await anonymous("GET", path);
    expect(shown.statusCode).toBe(200);
    expect(shown.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(shown.headers["referrer-policy"]).toBe("no-referrer");
    expect(shown.body).toContain("e•••@example.test");
    expect(shown.body).toContain('<form method="post">');
    expect((await recipient("eve@example.test"))?.suppressedAt).toBeNull();

    const done = await anonymous("POST", path, "List-Unsubscribe=One-Click");
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain("You are unsubscribed");
    expect(await recipient("eve@example.test")).toMatchObject({
      suppressedAt: api.clock(),
      suppressedVia: "one_click",
    });

    const after = await mailer.send(email("Eve@Example.test"));
    expect(after.status).toBe("suppressed");
    expect(smtp.messages).toHaveLength(1);
    expect((await anonymous("GET", path)).body).toContain("You are unsubscribed");
    // a second click changes nothing
    api.clock.advance(MINUTE);
    await anonymous("POST", path);
    expect((await recipient("eve@example.test"))?.suppressedVia).toBe("one_click");
  });

  it("the page's button unsubscribes too, and a message queued before it is not sent", async () => {
    await mailer.send(email("fay@example.test"));
    const path = unsubscribePathOf(smtp.messages[0] as (typeof smtp.messages)[number]);
    const queued = await api.database.db.transaction((tx) =>
      queueEmail(tx, email("fay@example.test"), api.clock()),
    );
    expect(queued.status).toBe("queued");
    expect((await anonymous("POST", path, "")).statusCode).toBe(200);
    expect((await recipient("fay@example.test"))?.suppressedVia).toBe("link");
    expect(await mailer.deliverDue()).toMatchObject({ attempted: 0, suppressed: 1 });
    expect(smtp.messages).toHaveLength(1);
    const [row] = await api.database.db.select().from(emailMessages).where(eq(emailMessages.id, queued.id));
    expect(row?.status).toBe("suppressed");
  });

  it("answers an unknown or malformed token with a problem, changing nothing", async () => {
    const before = await tableSnapshot(api.database);
    for (const method of ["GET", "POST"] as const) {
      const unknown = await anonymous(method, "/v1/email/unsubscribe?token=not-a-token-we-sent");
      expect([unknown.statusCode, unknown.json().code, unknown.json().param]).toEqual([
        404,
        "unknown_unsubscribe_token",
        "token",
      ]);
      const missing = await anonymous(method, "/v1/email/unsubscribe");
      expect([missing.statusCode, missing.json().code]).toEqual([400, "invalid_request"]);
    }
    expect(await tableSnapshot(api.database)).toEqual(before);
  });
});

describe("configuration", () => {
  it("sends no email without UPTIER_SMTP_URL, and links to UPTIER_PUBLIC_URL (default http://HOST:PORT)", () => {
    expect(smtpSettings(loadConfig({}))).toBeNull();
    expect(smtpSettings(loadConfig({ UPTIER_SMTP_URL: "smtp://u:p@mail.test:587" }))).toEqual({
      smtpUrl: "smtp://u:p@mail.test:587",
      from: "Uptier <uptier@localhost>",
      publicUrl: "http://127.0.0.1:4000",
    });
    expect(
      smtpSettings(
        loadConfig({
          UPTIER_SMTP_URL: "smtps://mail.test:465",
          UPTIER_EMAIL_FROM: "Acme <hi@acme.test>",
          UPTIER_PUBLIC_URL: "https://uptier.acme.test",
        }),
      ),
    ).toMatchObject({ from: "Acme <hi@acme.test>", publicUrl: "https://uptier.acme.test" });
    expect(() => loadConfig({ UPTIER_SMTP_URL: "http://mail.test" })).toThrow(/UPTIER_SMTP_URL/);
    expect(() => loadConfig({ UPTIER_PUBLIC_URL: "uptier.acme.test" })).toThrow(/UPTIER_PUBLIC_URL/);
  });
});
