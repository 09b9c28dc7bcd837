// Bad input never reaches the workers: each case is one clear line naming the file, line or key,
// no stack trace, no run directory and nothing in the shard cache that a later run would trust.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, tinyModel, whet } from "./helpers.ts";

interface Case {
  name: string;
  yaml?: (dir: string, model: string) => string;
  data?: string;
  expect: RegExp;
}

const good = (model: string, data: string, extra = "") =>
  `model_name_or_path: ${model}\nrandom_init: true\ndataset: ${data}\ncutoff_len: 64\nmax_steps: 2\ndevice: cpu\n${extra}`;

const cases: Case[] = [
  { name: "a missing dataset file", yaml: (d, m) => good(m, join(d, "nope.json")), expect: /nope\.json/ },
  { name: "a malformed JSON line", data: '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n', expect: /data\.jsonl:2/ },
  { name: "a sample with no assistant turn", data: '{"messages": [{"role": "user", "content": "hi"}]}\n', expect: /data\.jsonl:1/ },
  { name: "an unknown key", yaml: (d, m) => good(m, join(d, "data.jsonl"), "lerning_rate: 0.1\n"), expect: /run\.yaml:7 lerning_rate: .*learning_rate/ },
  { name: "a wrong type", yaml: (d, m) => good(m, join(d, "data.jsonl"), "per_device_train_batch_size: eight\n"), expect: /run\.yaml:7 per_device_train_batch_size:/ },
  { name: "a missing model folder", yaml: (d) => good(join(d, "no-model"), join(d, "data.jsonl")), expect: /no-model/ },
];

for (const c of cases) {
  test(`bad input: ${c.name}`, { timeout: 120_000 }, async () => {
    const dir = tempDir("whet-bad-");
    const model = tinyModel(dir);
    writeFileSync(join(dir, "data.jsonl"), c.data ?? '{"instruction": "Say hi.", "output": "Hi."}\n'.repeat(8));
    const yaml = c.yaml ? c.yaml(dir, model) : good(model, join(dir, "data.jsonl"));
    writeFileSync(join(dir, "run.yaml"), yaml);
    const cache = join(dir, "cache");
    const r = await whet(["train", join(dir, "run.yaml"), "--runs-dir", join(dir, "runs")], { env: { WHET_CACHE_DIR: cache } });
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, c.expect);
    assert.match(r.stderr, /^error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)|internal error|Traceback/);
    assert.ok(!existsSync(join(dir, "runs")), "a run directory was created");
    const shards = join(cache, "shards");
    assert.deepEqual(existsSync(shards) ? readdirSync(shards) : [], [], "something was left in the shard cache");
  });
}
