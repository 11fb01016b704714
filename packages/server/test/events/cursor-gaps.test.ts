import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CursorGap } from "../../src/db/schema/index.ts";
import {
  advanceCursor,
  type CursorPosition,
  gapClosed,
  gapSize,
  rangesOf,
} from "../../src/services/events/cursor-gaps.ts";

const T0 = new Date("2026-12-06T10:00:00Z");
const gap = (from: number, to: number, horizon = "100", seen = T0): CursorGap => ({
  from,
  to,
  seen: seen.toISOString(),
  horizon,
});
const page = (
  seqs: number[],
  over: { full?: boolean; xmin?: string; now?: Date; patienceMs?: number } = {},
) => ({
  seqs,
  full: over.full ?? false,
  xmin: over.xmin ?? "50",
  now: over.now ?? T0,
  patienceMs: over.patienceMs ?? 10_000,
});

describe("a durable cursor over a page of the log", () => {
  it("moves to the last number read and opens a gap for each number skipped", () => {
    const move = advanceCursor({ lastSeq: 3, gaps: [] }, page([4, 7, 8, 11]));
    expect(move.lastSeq).toBe(11);
    expect(move.opened).toEqual([
      { from: 5, to: 6 },
      { from: 9, to: 10 },
    ]);
    expect(move.kept).toEqual([]);
    expect(advanceCursor({ lastSeq: 3, gaps: [] }, page([]))).toEqual({ lastSeq: 3, kept: [], opened: [] });
  });

  it("closes the part of a gap that committed late and keeps the rest, with its sighting", () => {
    const move = advanceCursor({ lastSeq: 20, gaps: [gap(5, 9), gap(12, 12)] }, page([6, 8, 12, 21]));
    expect(move.kept).toEqual([gap(5, 5), gap(7, 7), gap(9, 9)]);
    expect(move.lastSeq).toBe(21);
    expect(move.opened).toEqual([]);
  });

  it("gives a gap up only when its transactions have ended and its patience is spent", () => {
    const g = gap(5, 5, "100");
    const later = new Date(T0.getTime() + 10_000);
    expect(gapClosed(g, "99", later, 10_000)).toBe(false); // a transaction that may hold it still runs
    expect(gapClosed(g, "100", new Date(T0.getTime() + 9_999), 10_000)).toBe(false);
    expect(gapClosed(g, "100", later, 10_000)).toBe(true);
    // xids are 64-bit: compared as numbers, not as text
    expect(gapClosed(gap(5, 5, "9"), "10", later, 0)).toBe(true);
    expect(gapClosed(gap(5, 5, "10"), "9", later, 0)).toBe(false);
    const cursor: CursorPosition = { lastSeq: 20, gaps: [g, gap(7, 7, "300")] };
    expect(advanceCursor(cursor, page([], { xmin: "200", now: later })).kept).toEqual([gap(7, 7, "300")]);
  });

  it("does not give up a gap past the end of a full page: it was not re-read", () => {
    const cursor: CursorPosition = { lastSeq: 20, gaps: [gap(2, 3, "1"), gap(9, 9, "1")] };
    const late = { xmin: "500", now: new Date(T0.getTime() + 60_000) };
    const full = advanceCursor(cursor, page([4], { ...late, full: true }));
    expect(full.kept).toEqual([gap(9, 9, "1")]);
    expect(full.lastSeq).toBe(20);
    expect(advanceCursor(cursor, page([4], late)).kept).toEqual([]);
  });

  it("counts and builds ranges", () => {
    expect(rangesOf([1, 2, 3, 5, 7, 8])).toEqual([
      { from: 1, to: 3 },
      { from: 5, to: 5 },
      { from: 7, to: 8 },
    ]);
    expect(gapSize(rangesOf([1, 2, 3, 5, 7, 8]))).toBe(6);
  });

  it("delivers every committed number exactly once, whatever the order of commits and the page size", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((n) =>
          fc.record({
            // the order in which the numbers 1..n commit
            commits: fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: n, maxLength: n },
            ),
            // how many commits land between two reads
            steps: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 40 }),
            pageSize: fc.integer({ min: 1, max: 8 }),
          }),
        ),
        ({ commits, steps, pageSize }) => {
          let cursor: CursorPosition = { lastSeq: 0, gaps: [] };
          const committed = new Set<number>();
          const delivered: number[] = [];
          let done = 0;
          const read = () => {
            const open = (s: number) => cursor.gaps.some((g) => s >= g.from && s <= g.to);
            const seqs = [...committed]
              .filter((s) => s > cursor.lastSeq || open(s))
              .sort((a, b) => a - b)
              .slice(0, pageSize);
            // transactions never end here (xmin stays low): no gap is given up
            const move = advanceCursor(cursor, page(seqs, { full: seqs.length === pageSize, xmin: "0" }));
            delivered.push(...seqs);
            cursor = {
              lastSeq: move.lastSeq,
              gaps: [...move.kept, ...move.opened.map((r) => gap(r.from, r.to, "1"))],
            };
          };
          for (const step of steps) {
            for (const seq of commits.slice(done, done + step)) committed.add(seq);
            done += step;
            read();
          }
          for (const seq of commits.slice(done)) committed.add(seq);
          for (let i = 0; i <= commits.length; i++) read();
          expect([...delivered].sort((a, b) => a - b)).toEqual([...committed].sort((a, b) => a - b));
          expect(cursor.gaps).toEqual([]);
        },
      ),
    );
  });
});
