import { test } from "node:test";
import assert from "node:assert/strict";
import { Template } from "@huggingface/jinja";
import { encodeSamples } from "./encode.ts";
import { compareWithTokenizer, selectTemplate } from "./template.ts";
import { loadTokenizer } from "./tokenize.ts";
import type { ChatSample, Message } from "./types.ts";
import { SMOL, trainedRuns, untrainedText } from "./fixtures/helpers.ts";

const { info, tok } = loadTokenizer(SMOL);
const SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

function chat(messages: Message[]): ChatSample {
  return { kind: "chat", messages, loc: { file: "t.json", line: 1 } };
}

async function encodeOne(messages: Message[], o: { trainOnPrompt?: boolean; maskHistory?: boolean; template?: string } = {}) {
  const template = selectTemplate(o.template, info, tok);
  const res = await encodeSamples([chat(messages)], template, tok, {
    stage: "sft",
    cutoffLen: 4096,
    trainOnPrompt: o.trainOnPrompt ?? false,
    maskHistory: o.maskHistory ?? false,
    eosId: info.eosId,
  });
  assert.equal(res.docs.length, 1);
  return { doc: res.docs[0]!, segs: template.render(messages), res };
}

test("SmolLM2 chat_template: alpaca sample trains exactly the answer and <|im_end|>", async () => {
  const msgs: Message[] = [
    { role: "user", content: "Give three tips.\nfor staying healthy" },
    { role: "assistant", content: "1. Eat well.\n2. Sleep." },
  ];
  const { doc, segs, res } = await encodeOne(msgs);
  const text = segs.map((s) => s.text).join("");
  assert.equal(text, `${SMOL_SYSTEM}<|im_start|>user\nGive three tips.\nfor staying healthy<|im_end|>\n<|im_start|>assistant\n1. Eat well.\n2. Sleep.<|im_end|>\n`);
  const jinja = new Template(info.chatTemplate!).render({ messages: msgs, add_generation_prompt: false, bos_token: info.bosToken, eos_token: info.eosToken });
  assert.equal(text, jinja);
  assert.deepEqual(await trainedRuns(tok, doc), ["1. Eat well.\n2. Sleep.<|im_end|>"]);
  const answerIds = (await tok.encode("1. Eat well.\n2. Sleep.", null, { addSpecialTokens: false })).getIds();
  assert.deepEqual(doc.ids.filter((_, i) => doc.mask[i] === 1), [...answerIds, 2]);
  assert.equal(doc.mask[0], 0);
  assert.equal(doc.ids[0], 1, "<|im_start|> is one token");
  assert.equal(doc.ids.at(-1), 198, "the newline after <|im_end|> is not trained");
  assert.equal(doc.mask.at(-1), 0);
  assert.equal(res.boundaryMismatches, 0);
  assert.equal(res.checked, 1);
});

test("SmolLM2: multi-turn with system trains each answer and its end token, not prompts", async () => {
  const msgs: Message[] = [
    { role: "system", content: "Be terse." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "2+2?" },
    { role: "assistant", content: "4" },
  ];
  const { doc, segs } = await encodeOne(msgs);
  const text = segs.map((s) => s.text).join("");
  assert.ok(text.startsWith("<|im_start|>system\nBe terse.<|im_end|>\n"), "explicit system replaces the default");
  assert.deepEqual(await trainedRuns(tok, doc), ["Hello.<|im_end|>", "4<|im_end|>"]);
  const prompt = await untrainedText(tok, doc);
  for (const p of ["Be terse.", "Hi", "2+2?", "<|im_start|>assistant\n"]) assert.ok(prompt.includes(p), p);
  assert.equal(doc.ids.filter((id, i) => id === 2 && doc.mask[i] === 1).length, 2);

  const hist = await encodeOne(msgs, { maskHistory: true });
  assert.deepEqual(await trainedRuns(tok, hist.doc), ["4<|im_end|>"]);
  const all = await encodeOne(msgs, { trainOnPrompt: true });
  assert.equal(all.doc.mask[0], 0);
  assert.ok(all.doc.mask.slice(1).every((m) => m === 1));
});

test("named chatml/qwen templates match the Jinja output with the same system", async () => {
  const msgs: Message[] = [
    { role: "system", content: "S" },
    { role: "user", content: "U" },
    { role: "assistant", content: "A" },
  ];
  const jinja = (await encodeOne(msgs)).doc;
  const named = (await encodeOne(msgs, { template: "chatml" })).doc;
  assert.deepEqual(named, jinja);
  const qwen = selectTemplate("qwen", info, tok).render([{ role: "user", content: "U" }, { role: "assistant", content: "A" }]);
  assert.equal(qwen.map((s) => s.text).join(""), "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n");
});

test("named templates render as expected", () => {
  const msgs: Message[] = [
    { role: "system", content: "S" },
    { role: "user", content: "U" },
    { role: "assistant", content: "A" },
  ];
  const show = (name: string) =>
    selectTemplate(name, { ...info, bosToken: "<s>", eosToken: "</s>" })
      .render(msgs)
      .map((s) => (s.train ? `[${s.text}]` : s.text))
      .join("");
  assert.equal(show("llama3"), "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n[A<|eot_id|>]");
  assert.equal(show("mistral"), "<s>[INST] S\n\nU[/INST][ A</s>]");
  assert.equal(show("gemma"), "<s><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n[A<end_of_turn>]\n");
  assert.equal(show("qwen3_nothink"), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n[A<|im_end|>]\n");
  assert.equal(show("qwen3"), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n[<think>\n\n</think>\n\nA<|im_end|>]\n");
  assert.equal(show("default"), "System: S</s>\nHuman: U</s>\nAssistant:[A</s>]\n");
  assert.equal(show("empty"), "SU[A]");
});

test("a template whose special tokens the tokenizer lacks, or an unknown name, is a clear error", () => {
  assert.throws(() => selectTemplate("llama3", info, tok), /llama3 uses <\|begin_of_text\|>.*does not have as a token/);
  assert.throws(() => selectTemplate("chatm", info, tok), /"chatm" is not a known template. Did you mean "chatml"\?/);
});

test("a Jinja template that rewrites earlier turns falls back to finding each answer in the text", () => {
  // Like Qwen3: only the last assistant turn gets an (empty) think block.
  const src =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and loop.last %}<think>\n\n</think>\n\n{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  const t = selectTemplate(undefined, { ...info, chatTemplate: src });
  const segs = t.render([
    { role: "user", content: "A" },
    { role: "assistant", content: "A" },
    { role: "user", content: "Q" },
    { role: "assistant", content: "B" },
  ]);
  assert.equal(
    segs.map((s) => (s.train ? `[${s.text}]` : s.text)).join(""),
    "<|im_start|>user\nA<|im_end|>\n<|im_start|>assistant\n[A<|im_end|>]\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n[B<|im_end|>]\n",
  );
});

test("LLaMA-Factory names: aliases map to built-ins, names without a built-in say what to do", () => {
  assert.equal(selectTemplate("gemma2", { ...info, bosToken: "<s>" }).name, "gemma");
  assert.throws(() => selectTemplate("llama2", info, tok), /"llama2" is a LLaMA-Factory template that whet has no built-in for\. Leave template unset to use the model's own chat_template/);
});

test("a named template is compared with the tokenizer's chat_template, showing where they part", () => {
  // SmolLM2's template is ChatML plus a default system prompt when the conversation has none.
  assert.equal(compareWithTokenizer(selectTemplate(undefined, info, tok), info), undefined);
  const p = compareWithTokenizer(selectTemplate("chatml", info, tok), info);
  assert.equal(p?.where, "template");
  assert.match(p!.message, /^chatml renders a conversation without a system message differently from the tokenizer's chat_template in .+, from character 12: chatml gives "user\\nWhat is 2\+2\?<\|im_end\|>\\n<\|im_start\|>", the tokenizer gives "system\\nYou are a helpful AI assistant na"\. Leave template unset/);
  const q = compareWithTokenizer(selectTemplate("qwen3", info, tok), info);
  assert.match(q!.message, /qwen3 renders a conversation with a system message differently .* from character 120: qwen3 gives "<think>/);
  assert.equal(compareWithTokenizer(selectTemplate("chatml", info, tok), { ...info, chatTemplate: undefined }), undefined);
});
