/**
 * Who issues the invoices and credit notes, as their PDFs show it: the vendor's name, postal
 * address (one entry per line) and tax id, from UPTIER_VENDOR_NAME, UPTIER_VENDOR_ADDRESS and
 * UPTIER_VENDOR_TAX_ID (config.ts).
 */
export interface VendorProfile {
  readonly name: string;
  readonly address: readonly string[];
  readonly taxId: string | null;
}

/** An address as one environment variable: lines split at newlines, or at the two characters `\n`. */
export const addressLines = (address: string | undefined): string[] =>
  (address ?? "")
    .split(/\r?\n|\\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
