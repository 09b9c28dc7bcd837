import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareData, type PrepareDataOptions } from "./prepare.ts";
import { readShards } from "./shards.ts";
import { loadTokenizerInfo } from "./tokenize.ts";
import { LF_DIR, SMOL, tempDir } from "./fixtures/helpers.ts";

function base(cacheRoot: string): PrepareDataOptions {
  return {
    datasets: ["identity", "alpaca_en_demo"],
    datasetDir: LF_DIR,
    configDir: "/nonexistent",
    stage: "sft",
    tokenizerDir: SMOL,
    cutoffLen: 512,
    packing: true,
    maxSamples: 100,
    placeholders: { name: "Whet", author: "the team" },
    cacheRoot,
  };
}

test("prepareData: SFT shards, cache reuse, key changes with cutoff_len", async () => {
  const root = tempDir();
  const calls: [number, number][] = [];
  const first = await prepareData({ ...base(root), onProgress: (d, t) => calls.push([d, t]) });
  assert.equal(first.cached, false);
  assert.deepEqual(calls.at(-1), [191, 191]);
  const { meta } = first;
  assert.equal(meta.seq_len, 512);
  assert.equal(meta.pad_token_id, 2);
  assert.equal(meta.eos_token_id, 2);
  assert.equal(meta.template, "jinja");
  assert.ok(meta.num_docs > 180 && meta.num_docs <= 191, String(meta.num_docs));
  assert.deepEqual(meta.datasets.map((d) => [d.name, d.records]), [["identity", 91], ["alpaca_en_demo", 100]]);
  const s = readShards(first.shardDir);
  assert.equal(s.tokens.length, meta.num_tokens);
  assert.equal(s.lossMask.reduce((a, b) => a + b, 0), meta.trained_tokens);
  for (let r = 0; r < meta.num_rows; r++) {
    const a = Number(s.docOffsets[Number(s.rowDocs[r])]);
    const b = Number(s.docOffsets[Number(s.rowDocs[r + 1])]);
    assert.ok(b - a <= 512);
  }
  for (let d = 0; d < meta.num_docs; d++) {
    assert.equal(s.lossMask[Number(s.docOffsets[d])], 0);
    assert.equal(s.tokens[Number(s.docOffsets[d])], 1, "each doc starts with <|im_start|>");
  }
  assert.ok(meta.trained_tokens < meta.num_tokens);

  const again = await prepareData(base(root));
  assert.equal(again.cached, true);
  assert.equal(again.shardDir, first.shardDir);
  assert.deepEqual(again.warnings, first.warnings);

  const other = await prepareData({ ...base(root), cutoffLen: 256 });
  assert.equal(other.cached, false);
  assert.notEqual(other.shardDir, first.shardDir);
  const noPack = await prepareData({ ...base(root), packing: false });
  assert.equal(noPack.meta.num_rows, noPack.meta.num_docs);
  assert.equal(readdirSync(join(root, "shards")).filter((n) => n.includes(".tmp-")).length, 0);
});

test("prepareData: pretraining text is text + eos, split at cutoff_len, packed", async () => {
  const root = tempDir();
  const r = await prepareData({ ...base(root), datasets: ["c4_demo"], stage: "pt", cutoffLen: 256, maxSamples: 20 });
  assert.equal(r.meta.template, "none");
  const s = readShards(r.shardDir);
  assert.equal(r.meta.trained_tokens, r.meta.num_tokens - r.meta.num_docs);
  assert.ok(r.meta.num_rows < r.meta.num_docs);
  assert.ok(r.warnings.some((w) => /split into chunks/.test(w.message)));
  assert.ok([...s.tokens].filter((t) => t === 2).length >= 1, "documents end with eos");
});

test("prepareData: a failure while writing leaves no folder behind", async () => {
  const root = tempDir();
  await assert.rejects(prepareData({ ...base(root), beforeMeta: () => { throw new Error("injected"); } }), /injected/);
  assert.deepEqual(readdirSync(join(root, "shards")), []);
  const r = await prepareData(base(root));
  assert.equal(r.cached, false);
});

test("a tokenizer without chat_template and no template: clear error; template: chatml works", async () => {
  const dir = tempDir();
  symlinkSync(join(SMOL, "tokenizer.json"), join(dir, "tokenizer.json"));
  const cfg = JSON.parse(readFileSync(join(SMOL, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  delete cfg.chat_template;
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(cfg));
  const info = loadTokenizerInfo(dir);
  assert.equal(info.hasChatTemplate, false);
  assert.deepEqual([info.padId, info.eosId], [2, 2]);
  const root = tempDir();
  await assert.rejects(prepareData({ ...base(root), tokenizerDir: dir }), (e: Error) => {
    assert.match(e.message, /^template: is not set and the tokenizer in .+ has no chat_template\. Set template: chatml \(or .+\) to match the model\.$/);
    return true;
  });
  const ok = await prepareData({ ...base(root), tokenizerDir: dir, template: "chatml" });
  assert.equal(ok.meta.template, "chatml");
});

test("unsupported stage is a clear error", async () => {
  await assert.rejects(prepareData({ ...base(tempDir()), stage: "dpo" }), /stage: is dpo, which the data pipeline does not support yet\. Use sft or pt\./);
});
