import type { AddressInfo } from "node:net";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/** An SMTP refusal: 4xx is temporary (the sender retries), 5xx permanent. */
export type Refusal = { readonly code: number; readonly message: string };

/**
 * An in-process SMTP server that keeps every message it accepts, parsed. `refuseNext` answers the
 * next messages' DATA with the given refusals; `refuseRecipients` refuses addresses at RCPT TO.
 */
export class SmtpCatcher {
  readonly messages: ParsedMail[] = [];
  refuseNext: Refusal[] = [];
  readonly refuseRecipients = new Map<string, Refusal>();
  private readonly server: SMTPServer;

  private constructor() {
    const fail = (refusal: Refusal) =>
      Object.assign(new Error(refusal.message), { responseCode: refusal.code });
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const refusal = this.refuseRecipients.get(address.address.toLowerCase());
        callback(refusal ? fail(refusal) : undefined);
      },
      onData: (stream, _session, callback) => {
        simpleParser(stream).then(
          (parsed) => {
            const refusal = this.refuseNext.shift();
            if (refusal) return callback(fail(refusal));
            this.messages.push(parsed);
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
  }

  static async start(): Promise<SmtpCatcher> {
    const catcher = new SmtpCatcher();
    await new Promise<void>((resolve) => catcher.server.listen(0, "127.0.0.1", resolve));
    return catcher;
  }

  get url(): string {
    return `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A header's raw value as sent (mailparser structures the List-* headers; tests want the text). */
export function rawHeader(mail: ParsedMail, name: string): string | undefined {
  const line = mail.headerLines.find((h) => h.key === name.toLowerCase())?.line;
  return line?.slice(line.indexOf(":") + 1).trim();
}
