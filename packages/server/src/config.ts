import { z } from "zod";
import { addressLines, type VendorProfile } from "./services/documents/vendor.ts";
import type { SmtpSettings } from "./services/email/mailer.ts";
import type { MeteringOptions } from "./services/metering/metering-state.ts";
import type { WebhookUrlPolicy } from "./services/webhooks/endpoints.ts";

const HOUR_MS = 3_600_000;
const MAX_LATE_EVENT_WINDOW_MS = 366 * 24 * HOUR_MS;
/** An unset variable is also an empty one (as DATABASE_URL). */
const unsetWhenEmpty = (v: unknown) => (v === "" ? undefined : v);

/** A duration in whole hours or days ("36h", "7d"), to milliseconds. */
const LateEventWindow = z.preprocess(
  unsetWhenEmpty,
  z
    .string()
    .default("7d")
    .transform((value, ctx) => {
      const match = /^([1-9]\d*)([hd])$/.exec(value.trim());
      const ms = match ? Number(match[1]) * (match[2] === "d" ? 24 : 1) * HOUR_MS : Number.NaN;
      if (ms <= MAX_LATE_EVENT_WINDOW_MS) return ms;
      ctx.issues.push({
        code: "custom",
        input: value,
        message: `must be whole hours or days from 1h to 366d, such as "36h" or "7d" (got "${value}")`,
      });
      return z.NEVER;
    }),
);

const MAX_CONNECTION_TIMEOUT_MS = 600_000;

/** A duration in whole milliseconds or seconds ("500ms", "10s"), to milliseconds. */
const ConnectionTimeout = z.preprocess(
  unsetWhenEmpty,
  z
    .string()
    .default("10s")
    .transform((value, ctx) => {
      const match = /^([1-9]\d*)(ms|s)$/.exec(value.trim());
      const ms = match ? Number(match[1]) * (match[2] === "s" ? 1000 : 1) : Number.NaN;
      if (ms <= MAX_CONNECTION_TIMEOUT_MS) return ms;
      ctx.issues.push({
        code: "custom",
        input: value,
        message: `must be whole milliseconds or seconds from 1ms to 600s, such as "500ms" or "10s" (got "${value}")`,
      });
      return z.NEVER;
    }),
);

/** The vendor as its invoices and credit notes name it (their PDFs). */
const VendorEnv = z.object({
  UPTIER_VENDOR_NAME: z.preprocess(unsetWhenEmpty, z.string().max(200).default("Uptier")),
  // lines separated by newlines or by the two characters \n
  UPTIER_VENDOR_ADDRESS: z.preprocess(unsetWhenEmpty, z.string().max(1000).optional()),
  UPTIER_VENDOR_TAX_ID: z.preprocess(unsetWhenEmpty, z.string().max(100).optional()),
});

/** Everything Uptier reads from the environment, validated once at start. */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  HOST: z.string().default("127.0.0.1"),
  // An empty DATABASE_URL means "not set": the embedded database.
  DATABASE_URL: z.preprocess((v) => (v === "" ? undefined : v), z.url().optional()),
  UPTIER_DATA_DIR: z.string().default("./.uptier/data"),
  // "off": this node runs no background jobs (e.g. a second, API-only node)
  UPTIER_JOBS: z.enum(["on", "off"]).default("on"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // usage events for an account Uptier does not know: reject them, or create the account (by external id)
  UPTIER_UNKNOWN_ACCOUNTS: z.preprocess(unsetWhenEmpty, z.enum(["reject", "create"]).default("reject")),
  // late usage events count in their own period for this long; parsed to milliseconds
  UPTIER_LATE_EVENT_WINDOW: LateEventWindow,
  // PostgreSQL: how long a request waits for a database connection before it is answered 503
  // database_unavailable; parsed to milliseconds
  UPTIER_DB_CONNECTION_TIMEOUT: ConnectionTimeout,
  // email over SMTP (smtp://user:pass@host:587, smtps://…:465); unset: no email is sent
  UPTIER_SMTP_URL: z.preprocess(unsetWhenEmpty, z.url({ protocol: /^smtps?$/ }).optional()),
  UPTIER_EMAIL_FROM: z.preprocess(unsetWhenEmpty, z.string().min(3).default("Uptier <uptier@localhost>")),
  // the address people and mail clients reach this server at (the emails' unsubscribe links);
  // default http://HOST:PORT
  UPTIER_PUBLIC_URL: z.preprocess(unsetWhenEmpty, z.url({ protocol: /^https?$/ }).optional()),
  // the vendor's app, where a play's email leads (its call to action links here, with the prompt's id)
  UPTIER_APP_URL: z.preprocess(unsetWhenEmpty, z.url({ protocol: /^https?$/ }).optional()),
  // "on" accepts plain-http webhook URLs to any host (development); https or localhost otherwise
  UPTIER_WEBHOOK_ALLOW_HTTP: z.preprocess(unsetWhenEmpty, z.enum(["on", "off"]).default("off")),
  ...VendorEnv.shape,
});

export type Config = z.infer<typeof Env>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${details}`);
  }
  return parsed.data;
}

/** The metering options the environment sets, for buildApp (the others keep their defaults). */
export function meteringOptions(config: Config): Partial<MeteringOptions> {
  return {
    unknownAccounts: config.UPTIER_UNKNOWN_ACCOUNTS,
    lateWindowMs: config.UPTIER_LATE_EVENT_WINDOW,
  };
}

/** Which webhook URLs the API accepts. */
export function webhookPolicy(config: Config): WebhookUrlPolicy {
  return { allowHttp: config.UPTIER_WEBHOOK_ALLOW_HTTP === "on" };
}

/** The SMTP settings, or null when no SMTP server is configured (then no email is sent). */
export function smtpSettings(config: Config): SmtpSettings | null {
  if (!config.UPTIER_SMTP_URL) return null;
  return {
    smtpUrl: config.UPTIER_SMTP_URL,
    from: config.UPTIER_EMAIL_FROM,
    publicUrl:
      config.UPTIER_PUBLIC_URL ??
      `http://${config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST}:${config.PORT}`,
  };
}

/** The vendor the invoices and credit notes name. */
export function vendorProfile(config: z.infer<typeof VendorEnv>): VendorProfile {
  return {
    name: config.UPTIER_VENDOR_NAME,
    address: addressLines(config.UPTIER_VENDOR_ADDRESS),
    taxId: config.UPTIER_VENDOR_TAX_ID ?? null,
  };
}

/** The vendor from the environment alone (buildApp's default when it is given none). */
export function vendorFromEnv(env: NodeJS.ProcessEnv = process.env): VendorProfile {
  const parsed = VendorEnv.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${parsed.error.issues[0]?.message}`);
  return vendorProfile(parsed.data);
}
