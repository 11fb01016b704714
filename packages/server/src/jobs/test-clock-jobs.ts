import type { PlaybookSource } from "../services/plays/evaluate.ts";
import { type AdvanceReport, resumeAdvances } from "../services/test-clocks/advance.ts";
import type { JobDefinition } from "./billing-jobs.ts";

/**
 * Resumes the test clocks left `advancing` by a node that died or failed mid-way (their lease
 * lapsed or was let go): each goes on from the last step it committed (services/test-clocks).
 */
export function resumeTestClocksJob(
  playbook: PlaybookSource,
  options: { appUrl?: string | null; emailQueued?: () => void } = {},
): JobDefinition<{ resumed: readonly AdvanceReport[] }> {
  return {
    name: "billing.resume-test-clocks",
    cron: "* * * * *",
    description: "Finish the test-clock advances a node left mid-way, from the last step each committed",
    run: async (billing) => ({ resumed: await resumeAdvances({ billing, playbook, ...options }) }),
    describe: (r) =>
      `Resumed ${r.resumed.length} test clock advance${r.resumed.length === 1 ? "" : "s"} (${r.resumed.reduce((s, a) => s + a.steps, 0)} steps).`,
    didWork: (r) => r.resumed.length > 0,
  };
}
