// Parameter counts of published shapes, computed by hand from their config.json fields.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KNOWN_SHAPES, countParams, loraParams, shapeFromConfig } from "./shape.ts";
import { WhetError } from "../errors.ts";

test("Llama-3-8B has 8,030,261,248 parameters", () => {
  assert.equal(countParams(KNOWN_SHAPES["Llama-3-8B"]!).total, 8_030_261_248);
});

test("SmolLM2-135M from its config.json fields: 134,515,008 with tied embeddings", () => {
  const shape = shapeFromConfig({
    hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3,
    intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true, model_type: "llama",
  });
  assert.deepEqual(shape, KNOWN_SHAPES["SmolLM2-135M"]);
  const p = countParams(shape);
  assert.equal(p.total, 134_515_008);
  assert.equal(p.head, 0);
});

test("Qwen2.5 shapes carry q/k/v biases (published sizes 14.7B, 32.8B)", () => {
  assert.equal(countParams(KNOWN_SHAPES["Qwen2.5-14B"]!).total, 14_770_033_664);
  assert.equal(countParams(KNOWN_SHAPES["Qwen2.5-32B"]!).total, 32_763_876_352);
  assert.equal(countParams(KNOWN_SHAPES["Llama-3-70B"]!).total, 70_553_706_496);
});

test("LoRA r=8 on all linears of Llama-3-8B: 20,971,520 trainable", () => {
  const s = KNOWN_SHAPES["Llama-3-8B"]!;
  assert.equal(loraParams(s, 8, ["all"]), 20_971_520);
  assert.equal(loraParams(s, 8, ["all-linear"]), 20_971_520);
  // q_proj and v_proj only: 8·(4096+4096) + 8·(4096+1024) per block.
  assert.equal(loraParams(s, 8, ["q_proj", "v_proj"]), 32 * (65_536 + 40_960));
});

test("unknown LoRA targets and missing config fields are user errors naming the key", () => {
  assert.throws(() => loraParams(KNOWN_SHAPES["Llama-3-8B"]!, 8, ["qkv"]), (e: unknown) => e instanceof WhetError && e.message.includes("lora_target"));
  assert.throws(() => shapeFromConfig({ hidden_size: 8 }), (e: unknown) => e instanceof WhetError && e.message.includes("num_attention_heads"));
});
