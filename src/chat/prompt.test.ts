import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chatFormat, generationPrompt, runTemplateName } from "./prompt.ts";
import { loadTokenizer } from "../data/tokenize.ts";
import { SMOL, tempDir } from "../data/fixtures/helpers.ts";

const { info, tok } = loadTokenizer(SMOL);
const SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

test("the tokenizer's own template: the prompt ends with the assistant header, <|im_end|> stops", () => {
  const f = chatFormat(undefined, info, tok, SMOL);
  assert.equal(f.template?.name, "jinja");
  assert.equal(f.endOfTurn, "<|im_end|>");
  assert.deepEqual(f.stopIds, [2]);
  // What transformers' apply_chat_template(add_generation_prompt=True) renders for SmolLM2.
  assert.equal(generationPrompt(f, [{ role: "user", content: "Who are you?" }]), `${SMOL_SYSTEM}<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n`);
  const history = generationPrompt(f, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "Bye" },
  ]);
  assert.equal(history, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
});

test("a built-in template renders the same way, and pt runs get the bare text", () => {
  const f = chatFormat("chatml", info, tok, SMOL);
  assert.equal(generationPrompt(f, [{ role: "user", content: "Hi" }]), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  assert.equal(f.endOfTurn, "<|im_end|>");
  const none = chatFormat("none", info, tok, SMOL);
  assert.equal(none.template, undefined);
  assert.equal(generationPrompt(none, [{ role: "user", content: "Once upon" }]), "Once upon");
});

test("the run's template: the shard's record first, then config.yaml, else the tokenizer's", () => {
  const dir = tempDir("whet-chat-");
  const shard = join(dir, "shard");
  mkdirSync(shard);
  assert.equal(runTemplateName(dir, shard), undefined);
  writeFileSync(join(dir, "config.yaml"), "template: qwen\n");
  assert.equal(runTemplateName(dir, shard), "qwen");
  assert.equal(runTemplateName(dir, undefined), "qwen");
  writeFileSync(join(shard, "meta.json"), JSON.stringify({ template: "chatml" }));
  assert.equal(runTemplateName(dir, shard), "chatml");
  writeFileSync(join(shard, "meta.json"), JSON.stringify({ template: "jinja" }));
  assert.equal(runTemplateName(dir, shard), undefined);
  writeFileSync(join(dir, "config.yaml"), "stage: pt\n");
  assert.equal(runTemplateName(dir, undefined), "none");
});
