import { fileURLToPath } from "node:url";

/** The demo catalog drawn from the seed articles. */
export const DEMO_CATALOG_FILE = fileURLToPath(new URL("../../demo/catalog.yaml", import.meta.url));
