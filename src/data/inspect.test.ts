import { test } from "node:test";
import assert from "node:assert/strict";
import { inspectData, renderInspect } from "./inspect.ts";
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
