import { test } from "node:test";
import assert from "node:assert/strict";
import { inspectData, inspectSample, renderInspect } from "./inspect.ts";
import { LF_DIR, SMOL } from "./fixtures/helpers.ts";

test("renderInspect brackets trained text and flags trained tokens", () => {
  const out = renderInspect({ ids: [1, 10, 11, 2, 198], mask: [0, 0, 1, 1, 0] }, ["<|im_start|>", "user\n", "Hi", "<|im_end|>", "\n"], { title: "t.json:1" });
  assert.equal(
    out,
    [
      "t.json:1",
      "--- text (trained parts in [[ ]]) ---",
      "<|im_start|>user\n[[Hi<|im_end|>]]\n",
      "--- tokens ---",
      "0        1  \"<|im_start|>\"",
      "1       10  \"user\\n\"",
      "2 +     11  \"Hi\"",
      "3 +      2  \"<|im_end|>\"",
      "4      198  \"\\n\"",
      "tokens: 5, trained: 2 (40.0%), not trained: 3",
    ].join("\n"),
  );
  assert.ok(!out.includes("\x1b["));
  assert.ok(renderInspect({ ids: [1, 2], mask: [0, 1] }, ["a", "b"], { color: true }).includes("\x1b[32m"));
});

test("inspectData shows one identity sample with placeholders filled", async () => {
  const out = await inspectData({
    dataset: "identity",
    datasetDir: LF_DIR,
    configDir: "/",
    stage: "sft",
    tokenizerDir: SMOL,
    cutoffLen: 1024,
    placeholders: { name: "Whet", author: "the team" },
    index: 2,
  });
  assert.match(out, /^.*identity\.json:12 template jinja\n/);
  assert.match(out, /<\|im_start\|>user\nWho are you\?<\|im_end\|>\n<\|im_start\|>assistant\n\[\[I am Whet, .*<\|im_end\|>\]\]\n/);
  assert.match(out, /tokens: \d+, trained: \d+/);
});

test("inspectSample warns when the named template renders unlike the SmolLM2 tokenizer's own", async () => {
  const opts = { dataset: "alpaca_en_demo", datasetDir: LF_DIR, configDir: "/", stage: "sft", tokenizerDir: SMOL, cutoffLen: 1024 };
  const own = await inspectSample(opts);
  assert.deepEqual(own.warnings, []);
  const named = await inspectSample({ ...opts, template: "chatml" });
  assert.equal(named.warnings.length, 1);
  assert.equal(named.warnings[0]!.where, "template");
  assert.match(named.warnings[0]!.message, /^chatml renders a conversation without a system message differently from the tokenizer's chat_template in .*SmolLM2-135M-Instruct, from character 12: chatml gives "user\\n/);
  assert.match(named.text, /template chatml\n/);
  const qwen3 = await inspectSample({ ...opts, template: "qwen3" });
  assert.match(qwen3.warnings[0]!.message, /^qwen3 renders a conversation with a system message differently/);
});
