/**
 * The npm registry this project is built against serves only Biome's linux-x64 binary package, so
 * `npm install` leaves Biome's other platform packages (all optional) out of package-lock.json and
 * `npm ci` then refuses the lockfile ("Missing: @biomejs/cli-darwin-arm64@ from lock file", the
 * bug npm/cli#9846). This adds the missing optional entries, as the public registry would have
 * them; npm never fetches them on a machine of another platform. Run it after changing Biome's
 * version: `npx tsx scripts/lockfile-add-biome-platforms.ts`.
 */
import { readFileSync, writeFileSync } from "node:fs";

const PLATFORMS: Record<string, { os: string; cpu: string; libc?: string }> = {
  "android-arm64": { os: "android", cpu: "arm64" },
  "android-x64": { os: "android", cpu: "x64" },
  "darwin-arm64": { os: "darwin", cpu: "arm64" },
  "darwin-x64": { os: "darwin", cpu: "x64" },
  "linux-arm64": { os: "linux", cpu: "arm64", libc: "glibc" },
  "linux-arm64-musl": { os: "linux", cpu: "arm64", libc: "musl" },
  "linux-x64": { os: "linux", cpu: "x64", libc: "glibc" },
  "linux-x64-musl": { os: "linux", cpu: "x64", libc: "musl" },
  "win32-arm64": { os: "win32", cpu: "arm64" },
  "win32-x64": { os: "win32", cpu: "x64" },
};

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const packages: Record<string, Record<string, unknown>> = lock.packages;
const version = packages["node_modules/@biomejs/biome"]?.version as string;
let added = 0;
for (const [name, { os, cpu, libc }] of Object.entries(PLATFORMS)) {
  const key = `node_modules/@biomejs/cli-${name}`;
  if (packages[key]?.version === version) continue;
  packages[key] = {
    version,
    resolved: `https://registry.npmjs.org/@biomejs/cli-${name}/-/cli-${name}-${version}.tgz`,
    cpu: [cpu],
    dev: true,
    ...(libc ? { libc: [libc] } : {}),
    license: "MIT OR Apache-2.0",
    optional: true,
    os: [os],
    engines: { node: ">=14.21.3" },
  };
  added += 1;
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`Biome ${version}: ${added} platform entries added to package-lock.json.\n`);
