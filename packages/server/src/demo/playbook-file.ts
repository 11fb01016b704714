import { fileURLToPath } from "node:url";

/** The demo playbook: seed 004's workflows and seed 001's triggers on the demo catalog. */
export const DEMO_PLAYBOOK_FILE = fileURLToPath(new URL("../../demo/playbook.yaml", import.meta.url));
