import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      // property tests run hundreds of cases: a shared, loaded machine must not time them out
      { test: { name: "core", include: ["packages/core/src/**/*.test.ts"], testTimeout: 30_000 } },
      {
        test: {
          name: "server",
          include: ["packages/server/test/**/*.test.ts", "packages/server/src/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "sdk",
          include: ["packages/sdk/test/**/*.test.ts", "packages/sdk/src/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
