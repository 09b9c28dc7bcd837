import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cacheKey, prepareShards } from "./cache.ts";
import { readShards, type ShardContent } from "./shards.ts";
import { tempDir } from "./fixtures/helpers.ts";

function content(): ShardContent {
  return {
    docs: [
      { ids: [1, 2, 3], mask: [1, 1, 1] },
      { ids: [70000, 5], mask: [0, 1] },
      { ids: [7, 8, 9, 10], mask: [0, 0, 1, 1] },
    ],
    rows: [[2], [1, 0]],
    header: {
      tokenizer_hash: "t",
      template: "chatml",
      stage: "sft",
      cutoff_len: 8,
      packing: true,
      seq_len: 8,
      pad_token_id: 2,
      eos_token_id: 2,
      packing_efficiency: 9 / 16,
      datasets: [],
    },
  };
}

test("shards: written in row order, little-endian, first token of each doc untrained", async () => {
  const root = tempDir();
  const { dir, meta, cached } = await prepareShards({ cacheRoot: root, key: "k1", build: async () => content() });
  assert.equal(cached, false);
  assert.equal(dir, join(root, "shards", "k1"));
  assert.deepEqual([meta.num_docs, meta.num_rows, meta.num_tokens, meta.trained_tokens], [3, 2, 9, 5]);
  const raw = readFileSync(join(dir, "tokens.bin"));
  assert.equal(raw.length, 36);
  assert.deepEqual([...raw.subarray(0, 8)], [7, 0, 0, 0, 8, 0, 0, 0]);
  assert.equal(raw.readUInt32LE(16), 70000);
  assert.deepEqual([...readFileSync(join(dir, "doc_offsets.bin")).subarray(8, 16)], [4, 0, 0, 0, 0, 0, 0, 0]);
  const s = readShards(dir);
  assert.deepEqual([...s.tokens], [7, 8, 9, 10, 70000, 5, 1, 2, 3]);
  assert.deepEqual([...s.lossMask], [0, 0, 1, 1, 0, 1, 0, 1, 1]);
  assert.deepEqual([...s.docOffsets], [0n, 4n, 6n, 9n]);
  assert.deepEqual([...s.rowDocs], [0n, 1n, 3n]);
  for (const off of s.docOffsets.slice(0, -1)) assert.equal(s.lossMask[Number(off)], 0);
  assert.equal(JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")).format_version, 1);
});

test("shards: a complete folder is reused without building", async () => {
  const root = tempDir();
  await prepareShards({ cacheRoot: root, key: "k", build: async () => content() });
  const mtime = statSync(join(root, "shards", "k", "tokens.bin")).mtimeMs;
  const again = await prepareShards({ cacheRoot: root, key: "k", build: async () => assert.fail("must not rebuild") });
  assert.equal(again.cached, true);
  assert.equal(statSync(join(again.dir, "tokens.bin")).mtimeMs, mtime);
});

test("shards: a failure midway leaves nothing a later run would trust", async () => {
  const root = tempDir();
  await assert.rejects(
    prepareShards({ cacheRoot: root, key: "k", build: async () => content(), beforeMeta: () => { throw new Error("disk full"); } }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(join(root, "shards")), []);
  await assert.rejects(prepareShards({ cacheRoot: root, key: "k", build: async () => { throw new Error("bad data"); } }), /bad data/);
  assert.deepEqual(readdirSync(join(root, "shards")), []);
  const ok = await prepareShards({ cacheRoot: root, key: "k", build: async () => content() });
  assert.equal(ok.cached, false);
});

test("cache keys: canonical over key order, different for different inputs", () => {
  assert.equal(cacheKey({ a: 1, b: { c: 2, d: 3 } }), cacheKey({ b: { d: 3, c: 2 }, a: 1 }));
  assert.notEqual(cacheKey({ cutoff_len: 1024 }), cacheKey({ cutoff_len: 2048 }));
  assert.match(cacheKey({}), /^[0-9a-f]{64}$/);
});
