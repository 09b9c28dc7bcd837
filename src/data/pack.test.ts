import { test } from "node:test";
import assert from "node:assert/strict";
import { packDocs } from "./pack.ts";

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function check(lengths: number[], seqLen: number): number[][] {
  const { rows, efficiency } = packDocs(lengths, seqLen, true);
  const seen = new Array<number>(lengths.length).fill(0);
  for (const row of rows) {
    assert.ok(row.length > 0);
    assert.ok(row.reduce((a, d) => a + lengths[d]!, 0) <= seqLen, "row within seq_len");
    for (const d of row) seen[d]!++;
  }
  assert.ok(seen.every((n) => n === 1), "every doc exactly once");
  const total = lengths.reduce((a, b) => a + b, 0);
  assert.equal(efficiency, total / (rows.length * seqLen));
  assert.ok(rows.length >= Math.ceil(total / seqLen));
  return rows;
}

test("packing: rows within seq_len, every doc once, deterministic, well filled", () => {
  const rnd = lcg(7);
  const lengths = Array.from({ length: 5000 }, () => 1 + Math.floor(rnd() * rnd() * 2048));
  const rows = check(lengths, 2048);
  assert.deepEqual(packDocs(lengths, 2048, true).rows, rows);
  assert.ok(packDocs(lengths, 2048, true).efficiency > 0.97, "best fit fills rows");
});

test("packing: exact fits and edge cases", () => {
  assert.deepEqual(check([5, 5, 5, 5], 10).length, 2);
  assert.deepEqual(check([6, 4, 7, 3], 10).map((r) => r.length), [2, 2]);
  assert.deepEqual(check([10, 10], 10), [[0], [1]]);
  assert.deepEqual(packDocs([], 10, true), { rows: [], efficiency: 1 });
  assert.throws(() => packDocs([11], 10, true), /outside 1\.\.10/);
});

test("no packing: one document per row, in order", () => {
  const { rows, efficiency } = packDocs([3, 8, 1], 10, false);
  assert.deepEqual(rows, [[0], [1], [2]]);
  assert.equal(efficiency, 12 / 30);
});
