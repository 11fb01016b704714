import PDFDocument from "pdfkit";
import type { VendorProfile } from "./vendor.ts";

/**
 * A billing document (an invoice, a credit note) as a PDF, drawn by pdfkit with its built-in fonts:
 * no browser, no font files. One layout for both: the vendor (name, address, tax id), what the
 * document is and whom it bills, its facts, its lines and its totals. Amounts arrive formatted.
 */
export interface BillingDocument {
  /** "Invoice", "Credit note" */
  readonly title: string;
  readonly number: string;
  readonly status: string;
  readonly vendor: VendorProfile;
  readonly billedTo: { readonly name: string; readonly id: string };
  /** dates and references, label and value */
  readonly facts: readonly (readonly [string, string])[];
  readonly lines: readonly DocumentLine[];
  /** label and formatted amount; the last one is drawn bold */
  readonly totals: readonly (readonly [string, string])[];
  readonly note?: string | null;
  /** the document's own date, written as the PDF's creation date (the same bytes each time) */
  readonly date: Date;
}

export interface DocumentLine {
  readonly description: string;
  readonly period: string;
  readonly quantity: string;
  readonly unitAmount: string;
  readonly amount: string;
}

const MARGIN = 50;
const WIDTH = 595.28 - 2 * MARGIN; // A4
const COLUMNS = [
  { key: "description", x: 0, width: 200, align: "left" },
  { key: "period", x: 205, width: 120, align: "left" },
  { key: "quantity", x: 330, width: 40, align: "right" },
  { key: "unitAmount", x: 375, width: 60, align: "right" },
  { key: "amount", x: 435, width: WIDTH - 435, align: "right" },
] as const;

export function renderPdf(document: BillingDocument): Promise<Buffer> {
  const pdf = new PDFDocument({
    size: "A4",
    margin: MARGIN,
    info: {
      Title: `${document.title} ${document.number}`,
      Author: document.vendor.name,
      CreationDate: document.date,
      ModDate: document.date,
    },
  });
  const chunks: Buffer[] = [];
  pdf.on("data", (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    pdf.on("end", () => resolve(Buffer.concat(chunks)));
    pdf.on("error", reject);
  });

  pdf.font("Helvetica-Bold").fontSize(14).text(document.vendor.name, MARGIN, MARGIN);
  pdf.font("Helvetica").fontSize(9);
  for (const line of document.vendor.address) pdf.text(line);
  if (document.vendor.taxId) pdf.text(`Tax ID: ${document.vendor.taxId}`);

  pdf.font("Helvetica-Bold").fontSize(18).text(`${document.title} ${document.number}`, MARGIN, MARGIN, {
    width: WIDTH,
    align: "right",
  });
  pdf.font("Helvetica").fontSize(9).text(document.status.toUpperCase(), { width: WIDTH, align: "right" });

  pdf.moveDown(4);
  pdf.x = MARGIN;
  pdf.font("Helvetica-Bold").fontSize(10).text("Billed to");
  pdf.font("Helvetica").text(document.billedTo.name).text(document.billedTo.id);
  pdf.moveDown();
  for (const [label, value] of document.facts) pdf.text(`${label}: ${value}`);
  pdf.moveDown();

  row(
    pdf,
    {
      description: "Description",
      period: "Period",
      quantity: "Qty",
      unitAmount: "Unit price",
      amount: "Amount",
    },
    true,
  );
  for (const line of document.lines) row(pdf, line, false);
  pdf.moveDown(0.5);
  document.totals.forEach(([label, amount], i) => {
    const last = i === document.totals.length - 1;
    const y = pdf.y;
    pdf.font(last ? "Helvetica-Bold" : "Helvetica").fontSize(10);
    pdf.text(label, MARGIN + 205, y, { width: 225, align: "right" });
    pdf.text(amount, MARGIN + 435, y, { width: WIDTH - 435, align: "right" });
  });
  if (document.note) {
    pdf.moveDown();
    pdf.font("Helvetica").fontSize(9).text(document.note, MARGIN, pdf.y, { width: WIDTH });
  }
  pdf.end();
  return done;
}

function row(pdf: PDFKit.PDFDocument, line: DocumentLine, header: boolean) {
  if (pdf.y > 760) pdf.addPage();
  const y = pdf.y;
  pdf.font(header ? "Helvetica-Bold" : "Helvetica").fontSize(9);
  let bottom = y;
  for (const column of COLUMNS) {
    pdf.text(line[column.key], MARGIN + column.x, y, { width: column.width, align: column.align });
    bottom = Math.max(bottom, pdf.y);
  }
  pdf
    .moveTo(MARGIN, bottom + 2)
    .lineTo(MARGIN + WIDTH, bottom + 2)
    .lineWidth(0.5)
    .strokeColor("#cccccc")
    .stroke();
  pdf.y = bottom + 5;
}
