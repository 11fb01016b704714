import type { CursorGap } from "../../db/schema/index.ts";

/**
 * How a durable cursor moves over one page of the log. Sequence numbers are handed out at insert
 * and committed in any order, so a number below the last one read may still commit: the cursor
 * keeps such gaps and re-reads them until they commit or can no longer (see `CursorGap`).
 */

/** A stretch of sequence numbers, both ends included. */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

export interface CursorPosition {
  readonly lastSeq: number;
  readonly gaps: readonly CursorGap[];
}

export interface PageRead {
  /** the sequence numbers the page read (after lastSeq, and in the gaps), ascending */
  readonly seqs: readonly number[];
  /** the page came back full: numbers after its last one were not read */
  readonly full: boolean;
  /** the oldest transaction still running when the page was read (pg_snapshot_xmin), as text */
  readonly xmin: string;
  readonly now: Date;
  /** a gap is kept at least this long after it was seen */
  readonly patienceMs: number;
}

export interface CursorMove {
  readonly lastSeq: number;
  /** the gaps still open, less what the page read */
  readonly kept: CursorGap[];
  /** the gaps the page opened, to be stamped with the transaction horizon of their sighting */
  readonly opened: SeqRange[];
}

/**
 * A gap can no longer commit once every transaction that could hold it has ended (the oldest
 * running transaction is past its horizon) and its patience is spent. The patience covers the one
 * case the horizon misses: a transaction that took its number but had no transaction id yet.
 */
export function gapClosed(gap: CursorGap, xmin: string, now: Date, patienceMs: number): boolean {
  return now.getTime() - Date.parse(gap.seen) >= patienceMs && BigInt(xmin) >= BigInt(gap.horizon);
}

export function advanceCursor(cursor: CursorPosition, page: PageRead): CursorMove {
  const lastRead = page.seqs.at(-1) ?? cursor.lastSeq;
  const kept: CursorGap[] = [];
  for (const gap of cursor.gaps) {
    // a full page may end inside the gaps: what lies past its end was not re-read
    const reread = !page.full || gap.to <= lastRead;
    if (reread && gapClosed(gap, page.xmin, page.now, page.patienceMs)) continue;
    for (const piece of without(gap, page.seqs)) kept.push({ ...gap, ...piece });
  }
  const opened: SeqRange[] = [];
  let lastSeq = cursor.lastSeq;
  for (const seq of page.seqs) {
    if (seq <= lastSeq) continue;
    if (seq > lastSeq + 1) opened.push({ from: lastSeq + 1, to: seq - 1 });
    lastSeq = seq;
  }
  return { lastSeq, kept, opened };
}

/** The parts of a range that none of the (ascending) numbers fall in. */
function without(range: SeqRange, seqs: readonly number[]): SeqRange[] {
  const pieces: SeqRange[] = [];
  let from = range.from;
  for (const seq of seqs) {
    if (seq < from) continue;
    if (seq > range.to) break;
    if (seq > from) pieces.push({ from, to: seq - 1 });
    from = seq + 1;
  }
  if (from <= range.to) pieces.push({ from, to: range.to });
  return pieces;
}

/** How many sequence numbers the gaps hold. */
export function gapSize(gaps: readonly SeqRange[]): number {
  return gaps.reduce((n, g) => n + g.to - g.from + 1, 0);
}

/** Ascending numbers as the fewest ranges. */
export function rangesOf(seqs: readonly number[]): SeqRange[] {
  const ranges: { from: number; to: number }[] = [];
  for (const seq of seqs) {
    const last = ranges.at(-1);
    if (last && seq === last.to + 1) last.to = seq;
    else ranges.push({ from: seq, to: seq });
  }
  return ranges;
}
