import { z } from "zod";

/** Everything Uptier reads from the environment, validated once at start. */
const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  HOST: z.string().default("127.0.0.1"),
  // An empty DATABASE_URL means "not set": the embedded database.
  DATABASE_URL: z.preprocess((v) => (v === "" ? undefined : v), z.url().optional()),
  UPTIER_DATA_DIR: z.string().default("./.uptier/data"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
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
