import { describe, expect, it } from "vitest";
import { Batches } from "../../src/lib/batches.ts";

describe("batches", () => {
  it("runs a lone item at once and groups what arrives while a batch runs", async () => {
    const seen: number[][] = [];
    const batches = new Batches<number, number>(async (items) => {
      seen.push([...items]);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((i) => ({ status: "fulfilled" as const, value: i * 10 }));
    }, 3);
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => batches.run(i)));
    expect(results).toEqual([10, 20, 30, 40, 50, 60]);
    expect(seen).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it("answers each item of a batch on its own, and runs a failed batch again item by item", async () => {
    const seen: string[][] = [];
    const batches = new Batches<string, string>(async (items) => {
      seen.push([...items]);
      if (items.length > 1 && items.includes("boom")) throw new Error("the whole batch failed");
      if (items.includes("boom")) throw new Error("boom alone");
      return items.map((i) =>
        i === "refused"
          ? { status: "rejected" as const, reason: new Error("refused") }
          : { status: "fulfilled" as const, value: i.toUpperCase() },
      );
    }, 10);
    const results = await Promise.allSettled(["a", "b", "boom", "refused", "c"].map((i) => batches.run(i)));
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([
      "A",
      "B",
      "boom alone",
      "refused",
      "C",
    ]);
    expect(seen).toEqual([["a"], ["b", "boom", "refused", "c"], ["b"], ["boom"], ["refused"], ["c"]]);
  });

  it("runs up to maxRunning batches at once; the items waiting share the next free one", async () => {
    const seen: number[][] = [];
    const releases: (() => void)[] = [];
    const batches = new Batches<number, number>(
      async (items) => {
        seen.push([...items]);
        await new Promise<void>((resolve) => releases.push(resolve));
        return items.map((i) => ({ status: "fulfilled" as const, value: i }));
      },
      10,
      2,
    );
    const all = [1, 2, 3, 4, 5].map((i) => batches.run(i));
    expect(seen).toEqual([[1], [2]]); // two slots, each taken at once
    releases[0]?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([[1], [2], [3, 4, 5]]);
    releases[1]?.();
    releases[2]?.();
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4, 5]);
  });
});
