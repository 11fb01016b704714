import { describe, expect, it } from "vitest";
import { GroupCommit } from "../src/lib/group-commit.ts";

describe("GroupCommit", () => {
  it("writes a lone row at once, and rows arriving during a write together in the next", async () => {
    const statements: number[][] = [];
    let release: () => void = () => {};
    const commit = new GroupCommit<number>(
      async (rows) => {
        statements.push([...rows]);
        if (statements.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { concurrency: 1 },
    );
    const first = commit.write(1);
    expect(statements).toEqual([[1]]); // not held back for company
    const rest = [2, 3, 4].map((n) => commit.write(n));
    release();
    await Promise.all([first, ...rest]);
    expect(statements).toEqual([[1], [2, 3, 4]]);
  });

  it("a row that fails its statement fails alone: the others are written one by one", async () => {
    const written: number[] = [];
    let release: () => void = () => {};
    let calls = 0;
    const commit = new GroupCommit<number>(
      async (rows) => {
        calls++;
        if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
        if (rows.includes(13)) throw new Error("row 13 is refused");
        written.push(...rows);
      },
      { concurrency: 1 },
    );
    const results = [1, 2, 13, 4].map((n) =>
      commit.write(n).then(
        () => "ok",
        (e: Error) => e.message,
      ),
    );
    release();
    expect(await Promise.all(results)).toEqual(["ok", "ok", "row 13 is refused", "ok"]);
    expect(written.sort()).toEqual([1, 2, 4]);
  });

  it("splits a long queue into statements of at most maxBatch rows", async () => {
    const sizes: number[] = [];
    let release: () => void = () => {};
    const commit = new GroupCommit<number>(
      async (rows) => {
        sizes.push(rows.length);
        if (sizes.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { maxBatch: 4, concurrency: 1 },
    );
    const all = Array.from({ length: 11 }, (_, i) => commit.write(i));
    release();
    await Promise.all(all);
    expect(sizes).toEqual([1, 4, 4, 2]);
  });

  it("runs up to `concurrency` statements at once; the rows waiting share the next free one", async () => {
    const statements: number[][] = [];
    const releases: (() => void)[] = [];
    const commit = new GroupCommit<number>(
      async (rows) => {
        statements.push([...rows]);
        await new Promise<void>((resolve) => releases.push(resolve));
      },
      { concurrency: 2 },
    );
    const all = [1, 2, 3, 4, 5].map((n) => commit.write(n));
    expect(statements).toEqual([[1], [2]]); // two slots, each taken at once
    releases[0]?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(statements).toEqual([[1], [2], [3, 4, 5]]);
    releases[1]?.();
    releases[2]?.();
    await Promise.all(all);
  });
});
