import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { WhetError } from "../errors.ts";
import { loadSamples } from "./dataset.ts";
import { encodeSamples } from "./encode.ts";
import { resolveDatasets } from "./registry.ts";
import { selectTemplate } from "./template.ts";
import { loadTokenizer } from "./tokenize.ts";
import type { ChatSample } from "./types.ts";
import { LF_DIR, SMOL, trainedRuns, writeTree } from "./fixtures/helpers.ts";

const opts = { datasetDir: LF_DIR, configDir: "/nonexistent" };
const info = JSON.parse(readFileSync(join(LF_DIR, "dataset_info.json"), "utf8")) as Record<string, { file_name?: string; ranking?: boolean; columns?: Record<string, string> }>;
const { info: tinfo, tok } = loadTokenizer(SMOL);
const template = selectTemplate(undefined, tinfo, tok);
const placeholders = { name: "Whet", author: "the team" };

function error(fn: () => unknown): WhetError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WhetError, String(e));
    return e;
  }
  assert.fail("expected an error");
}

test("every local file in dataset_info.json resolves and renders, or gives a clear error", async () => {
  const local = Object.entries(info).filter(([, e]) => typeof e.file_name === "string");
  assert.equal(local.length, 14);
  let rendered = 0;
  for (const [name, entry] of local) {
    const present = existsSync(join(LF_DIR, entry.file_name!));
    if (!present) {
      const e = error(() => resolveDatasets([name], opts));
      assert.equal(e.code, "FILE_NOT_FOUND", name);
      assert.match(e.message, new RegExp(`dataset_info\\.json:\\d+ ${name}: file_name "${entry.file_name!.replace(".", "\\.")}" does not exist in .+\\. Put the file there or fix file_name\\.`));
      continue;
    }
    if (entry.ranking) {
      assert.match(error(() => resolveDatasets([name], opts)).message, /ranking datasets need stage dpo\/rm, which is not supported yet/);
      continue;
    }
    const [spec] = resolveDatasets([name], opts);
    const stage = entry.columns?.prompt === "text" ? "pt" : "sft";
    const samples = loadSamples(spec!, { stage, placeholders });
    const res = await encodeSamples(samples, template, tok, { stage, cutoffLen: 1 << 20, trainOnPrompt: false, maskHistory: false, eosId: tinfo.eosId });
    assert.equal(res.docs.length, samples.length, name);
    assert.equal(res.boundaryMismatches, 0, name);
    rendered++;
  }
  assert.equal(rendered, 4, "alpaca_en_demo, identity, kto_en_demo, c4_demo");
});

test("identity with placeholders, kto as OpenAI messages, c4 as pretraining text", async () => {
  const [identity, kto, c4] = resolveDatasets(["identity", "kto_en_demo", "c4_demo"], opts);
  const id = loadSamples(identity!, { stage: "sft", placeholders }) as ChatSample[];
  assert.equal(id.length, 91);
  assert.equal(id[0]!.messages[1]!.content, "Hello! I am Whet, an AI assistant developed by the team. How can I assist you today?");
  assert.ok(id.every((s) => !s.messages.some((m) => m.content.includes("{{"))));
  const k = loadSamples(kto!, { stage: "sft" }) as ChatSample[];
  assert.equal(k.length, 300);
  assert.deepEqual(k[0]!.messages.map((m) => m.role), ["user", "assistant"]);
  const enc = await encodeSamples(k.slice(0, 1), template, tok, { stage: "sft", cutoffLen: 8192, trainOnPrompt: false, maskHistory: false, eosId: 2 });
  assert.deepEqual(await trainedRuns(tok, enc.docs[0]!), [`${k[0]!.messages[1]!.content}<|im_end|>`]);
  const t = loadSamples(c4!, { stage: "pt", maxSamples: 5 });
  assert.equal(t.length, 5);
  assert.equal(t[0]!.kind, "text");
});

test("hub-only, unknown and ranking entries give clear errors", () => {
  assert.match(error(() => resolveDatasets(["alpaca_en"], opts)).message, /is only on a hub \(.+\), which is not available offline\. Download it and point file_name at the local copy\./);
  const e = error(() => resolveDatasets(["alpaca_en_dem"], opts));
  assert.match(e.message, /^dataset alpaca_en_dem: is not registered in .*dataset_info\.json\. Did you mean "alpaca_en_demo"\?$/);
  assert.match(error(() => resolveDatasets(["dpo_en_demo"], opts)).message, /dataset_info\.json:\d+ dpo_en_demo: is a ranking/);
});

test("direct file paths are detected by shape; max_samples caps; dataset_dir is relative to the config", () => {
  const [a] = resolveDatasets([join(LF_DIR, "kto_en_demo.json")], opts);
  assert.equal(a!.formatting, "auto");
  const s = loadSamples(a!, { stage: "sft", maxSamples: 3 }) as ChatSample[];
  assert.equal(s.length, 3);
  assert.equal(s[0]!.messages[0]!.role, "user");
  const [b] = resolveDatasets(["alpaca_en_demo"], { datasetDir: relative("/", LF_DIR), configDir: "/" });
  assert.equal(b!.file, join(LF_DIR, "alpaca_en_demo.json"));
  assert.match(error(() => resolveDatasets(["x"], { datasetDir: "/nonexistent", configDir: "/" })).message, /dataset_info\.json does not exist/);
});

test("names are found next to the config and in Whetstone's own registry; entry keys it ignores are named", () => {
  const lf = writeTreeJson({
    "cfg/dataset_info.json": { mine: { file_name: "mine.jsonl", columns: { prompt: "text" }, num_samples: 5, split: "test" } },
    "cfg/mine.jsonl": '{"text":"a"}\n',
    "user/dataset_info.json": {
      kto: { file_name: join(LF_DIR, "kto_en_demo.json"), formatting: "sharegpt", columns: { messages: "messages", kto_tag: "label", foo: "x" }, tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant", bogus_tag: "b" } },
    },
  });
  const o = { datasetDir: "nowhere", configDir: join(lf, "cfg"), userRegistry: join(lf, "user", "dataset_info.json") };
  const [mine, kto] = resolveDatasets(["mine", "kto"], o);
  assert.equal(mine!.file, join(lf, "cfg", "mine.jsonl"));
  assert.deepEqual(mine!.warnings.map((w) => w.where!.replace(/^.*dataset_info\.json:\d+ /, "")), ["mine num_samples", "mine split"]);
  assert.match(mine!.warnings[0]!.message, /^is not supported; every record is used/);
  assert.equal(kto!.registry, join(lf, "user", "dataset_info.json"));
  assert.deepEqual(kto!.warnings.map((w) => w.where!.replace(/^.*dataset_info\.json:\d+ /, "")), ["kto columns.kto_tag", "kto columns.foo", "kto tags.bogus_tag"]);
  assert.match(kto!.warnings[0]!.message, /including those labelled undesirable/);
  // the dataset_dir registry comes first
  const [first] = resolveDatasets(["alpaca_en_demo"], { ...o, datasetDir: LF_DIR });
  assert.equal(first!.registry, join(LF_DIR, "dataset_info.json"));
  assert.deepEqual(first!.warnings, []);
});

function writeTreeJson(files: Record<string, unknown>): string {
  return writeTree(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v, null, 2)])));
}
