// Llama 3, Mistral, Gemma and the plain templates (default, empty). Each renders the same text as
// LLaMA-Factory's template of the same name (src/llamafactory/data/template.py), so a LLaMA-Factory
// config's `template:` trains on the same bytes here.
import type { BuiltinDef } from "./types.ts";

const mergeBlank = (s: string, u: string) => `${s}\n\n${u}`;
const header = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;

export const llama3: BuiltinDef = {
  name: "llama3",
  description: "Llama 3 / 3.1 instruct (<|start_header_id|>, <|eot_id|>)",
  special: ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
  prefix: () => "<|begin_of_text|>",
  system: (s) => `${header("system")}${s}<|eot_id|>`,
  user: (u) => `${header("user")}${u}<|eot_id|>${header("assistant")}`,
  observation: (o) => `${header("ipython")}${o}<|eot_id|>${header("assistant")}`,
  assistant: (a) => [`${a}<|eot_id|>`, ""],
};

export const mistral: BuiltinDef = {
  name: "mistral",
  description: "Mistral instruct v3 ([INST] ...[/INST] answer</s>); system merged into the first user turn",
  special: [],
  prefix: (t) => t.bos ?? "",
  mergeSystem: mergeBlank,
  user: (u) => `[INST] ${u}[/INST]`,
  observation: (o) => `[TOOL_RESULTS] {"content": ${o}}[/TOOL_RESULTS]`,
  assistant: (a, t) => [` ${a}${t.eos}`, ""],
};

export const gemma: BuiltinDef = {
  name: "gemma",
  description: "Gemma (<start_of_turn>/<end_of_turn>, role model); system merged into the first user turn",
  special: ["<start_of_turn>", "<end_of_turn>"],
  prefix: (t) => t.bos ?? "",
  mergeSystem: mergeBlank,
  user: (u) => `<start_of_turn>user\n${u}<end_of_turn>\n<start_of_turn>model\n`,
  observation: (o) => `<start_of_turn>tool\n${o}<end_of_turn>\n<start_of_turn>model\n`,
  assistant: (a) => [`${a}<end_of_turn>`, "\n"],
};

export const plainDefault: BuiltinDef = {
  name: "default",
  description: "Plain text: System:/Human:/Assistant: lines, each ended with eos",
  special: [],
  system: (s, t) => `System: ${s}${t.eos}\n`,
  user: (u, t) => `Human: ${u}${t.eos}\nAssistant:`,
  observation: (o, t) => `Human: ${o}${t.eos}\nAssistant:`,
  assistant: (a, t) => [`${a}${t.eos}`, "\n"],
};

/** As in LLaMA-Factory: no scaffolding and no eos, so the model does not learn to stop. */
export const empty: BuiltinDef = {
  name: "empty",
  description: "No scaffolding: system, prompt and answer texts back to back, no eos",
  special: [],
  system: (s) => s,
  user: (u) => u,
  observation: (o) => o,
  assistant: (a) => [a, ""],
};
