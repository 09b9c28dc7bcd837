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
    const media = ["images", "videos", "audios"].find((c) => entry.columns?.[c] !== undefined);
    if (media) {
      // What a local copy would not fix is said first, present or not.
      assert.match(error(() => resolveDatasets([name], opts)).message, new RegExp(`dataset_info\\.json:\\d+ ${name}: has a "${media}" column: multimodal data is not supported`), name);
      continue;
    }
    if (entry.ranking) {
      const e = error(() => resolveDatasets([name], opts));
      assert.equal(e.code, "DATASET_INVALID", name);
      assert.match(e.message, new RegExp(`dataset_info\\.json:\\d+ ${name}: has ranking: true, a preference dataset .* for stage rm or dpo, which whet does not support`), name);
      continue;
    }
    if (!present) {
      const e = error(() => resolveDatasets([name], opts));
      assert.equal(e.code, "FILE_NOT_FOUND", name);
      assert.match(e.message, new RegExp(`dataset_info\\.json:\\d+ ${name}: file_name "${entry.file_name!.replace(".", "\\.")}" does not exist in .+\\. Put the file there or fix file_name\\.`));
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

test("every hub-only entry says offline which dataset and which key, and how to get a local copy", () => {
  const hubOnly = Object.entries(info).filter(([, e]) => typeof e.file_name !== "string");
  assert.ok(hubOnly.length > 80, String(hubOnly.length));
  for (const [name, entry] of hubOnly) {
    const e = error(() => resolveDatasets([name], opts));
    assert.equal(e.code, "DATASET_INVALID", name);
    if (entry.ranking || ["images", "videos", "audios"].some((c) => entry.columns?.[c] !== undefined)) continue; // said first, as above
    const entryKeys = entry as Record<string, unknown>;
    const key = ["hf_hub_url", "ms_hub_url", "om_hub_url", "script_url"].find((k) => typeof entryKeys[k] === "string")!;
    assert.match(e.message, new RegExp(`^.*dataset_info\\.json:\\d+ ${name.replace(".", "\\.")}: has no file_name, only ${key} "`), name);
    assert.match(e.message, /whet reads local files only \(it never downloads\)\. Download it \(for example: .+\) and add "file_name"/, name);
  }
  const alpaca = error(() => resolveDatasets(["alpaca_en"], opts)).message;
  assert.match(alpaca, /only hf_hub_url "llamafactory\/alpaca_en", ms_hub_url "llamafactory\/alpaca_en", om_hub_url "HaM\/alpaca_en"/);
  assert.match(alpaca, /huggingface-cli download --repo-type dataset llamafactory\/alpaca_en --local-dir \S+\/alpaca_en\)/);
  assert.match(error(() => resolveDatasets(["deepctrl"], opts)).message, /only ms_hub_url ".+".*modelscope download --dataset /);
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

test("unknown and ranking entries give clear errors", () => {
  const e = error(() => resolveDatasets(["alpaca_en_dem"], opts));
  assert.match(e.message, /^dataset alpaca_en_dem: is not registered in .*dataset_info\.json\. Did you mean "alpaca_en_demo"\?$/);
  assert.match(error(() => resolveDatasets(["dpo_en_demo"], opts)).message, /dataset_info\.json:\d+ dpo_en_demo: has ranking: true, .*Use an SFT dataset, or LLaMA-Factory for reward modelling and DPO\.$/);
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

test("columns and tags of the shared registry's entries remap records as LLaMA-Factory reads them", async () => {
  // The entries are read verbatim from the shared dataset_info.json; only file_name points at small
  // records written here in the shape those datasets have (their data files are not in ../shared).
  const entries = info as Record<string, Record<string, unknown>>;
  const glaive = {
    conversations: [
      { from: "human", value: "What is the weather in Paris?" },
      { from: "function_call", value: '{"name": "get_weather", "arguments": {"city": "Paris"}}' },
      { from: "observation", value: '{"temp_c": 21}' },
      { from: "gpt", value: "It is 21 degrees in Paris." },
    ],
    tools: '[{"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]',
  };
  const kto = { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello." }], label: false };
  const dir = writeTreeJson({
    "dataset_info.json": {
      glaive_toolcall_en_demo: { ...entries.glaive_toolcall_en_demo, file_name: "glaive.json" },
      kto_en_demo: { ...entries.kto_en_demo, file_name: "kto.json" },
      c4_demo: { ...entries.c4_demo, file_name: "c4.jsonl" },
      renamed: { file_name: "renamed.json", columns: { prompt: "q", query: "ctx", response: "a", system: "sys", history: "past" } },
      custom_tags: { file_name: "tags.json", formatting: "sharegpt", columns: { messages: "turns", system: "sys" }, tags: { role_tag: "speaker", content_tag: "text", user_tag: "me", assistant_tag: "bot", observation_tag: "tool", function_tag: "call", system_tag: "rules" } },
    },
    "glaive.json": [glaive],
    "kto.json": [kto],
    "c4.jsonl": '{"text": "plain text"}\n',
    "renamed.json": [{ q: "Translate", ctx: "bonjour", a: "hello", sys: "You translate.", past: [["Hi", "Hello"]] }],
    "tags.json": [{ sys: "S", turns: [{ speaker: "me", text: "U1" }, { speaker: "call", text: "F" }, { speaker: "tool", text: "O" }, { speaker: "bot", text: "A" }] }],
  });
  const o = { datasetDir: dir, configDir: "/nonexistent", userRegistry: "/nonexistent" };
  const [g, k, c, r, t] = resolveDatasets(["glaive_toolcall_en_demo", "kto_en_demo", "c4_demo", "renamed", "custom_tags"], o);
  const one = (spec: typeof g, stage: "sft" | "pt" = "sft") => loadSamples(spec!, { stage })[0]!;
  const gs = one(g) as ChatSample;
  assert.deepEqual(gs.messages.map((m) => m.role), ["user", "function", "observation", "assistant"]);
  assert.equal(gs.tools, glaive.tools);
  assert.deepEqual((one(k) as ChatSample).messages, kto.messages);
  assert.match(k!.warnings[0]!.where!, /kto_en_demo columns\.kto_tag$/);
  assert.deepEqual(one(c, "pt"), { kind: "text", text: "plain text", loc: { file: join(dir, "c4.jsonl"), line: 1 } });
  assert.deepEqual((one(r) as ChatSample).messages, [
    { role: "system", content: "You translate." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello" },
    { role: "user", content: "Translate\nbonjour" },
    { role: "assistant", content: "hello" },
  ]);
  assert.deepEqual((one(t) as ChatSample).messages, [
    { role: "system", content: "S" },
    { role: "user", content: "U1" },
    { role: "function", content: "F" },
    { role: "observation", content: "O" },
    { role: "assistant", content: "A" },
  ]);
  // SmolLM2's chat_template renders every turn (the call as an assistant turn, the result as a tool
  // turn) but not tool definitions, which prepareData says in a warning (see prepare.test.ts).
  const text = template.render(gs.messages, gs.tools).map((x) => x.text).join("");
  assert.ok(text.includes('<|im_start|>assistant\n{"name": "get_weather"'), text);
  assert.ok(text.includes('<|im_start|>tool\n{"temp_c": 21}<|im_end|>'), text);
  assert.ok(!text.includes("Weather of a city"));
  assert.equal(template.rendersTools, false);
});
