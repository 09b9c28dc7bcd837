// Llama 3, Mistral, Gemma and the plain templates (default, empty).
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
  description: "Mistral instruct ([INST] ... [/INST] answer</s>); system merged into the first user turn",
  special: [],
  prefix: (t) => t.bos ?? "",
  mergeSystem: mergeBlank,
  user: (u) => `[INST] ${u}[/INST]`,
  observation: (o) => `[TOOL_RESULTS] ${o}[/TOOL_RESULTS]`,
  assistant: (a, t) => [`${a}${t.eos}`, ""],
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
  description: "Plain text: System:/Human:/Assistant: lines, answers end with eos",
  special: [],
  system: (s) => `System: ${s}\n`,
  user: (u) => `Human: ${u}\nAssistant: `,
  observation: (o) => `Observation: ${o}\nAssistant: `,
  assistant: (a, t) => [`${a}${t.eos}`, "\n"],
};

export const empty: BuiltinDef = {
  name: "empty",
  description: "No scaffolding: prompt text then answer text and eos",
  special: [],
  system: (s) => `${s}\n`,
  user: (u) => u,
  observation: (o) => o,
  assistant: (a, t) => [`${a}${t.eos}`, ""],
};
