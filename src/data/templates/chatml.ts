// ChatML and the Qwen family: <|im_start|>role\n...<|im_end|>\n
import type { BuiltinDef } from "./types.ts";

const turn = (role: string, text: string) => `<|im_start|>${role}\n${text}<|im_end|>\n`;
const HEADER = "<|im_start|>assistant\n";
const SPECIAL = ["<|im_start|>", "<|im_end|>"];

export const chatml: BuiltinDef = {
  name: "chatml",
  description: "ChatML (<|im_start|>/<|im_end|>), no default system prompt",
  special: SPECIAL,
  system: (s) => turn("system", s),
  user: (u) => turn("user", u) + HEADER,
  observation: (o) => turn("tool", o) + HEADER,
  assistant: (a) => [`${a}<|im_end|>`, "\n"],
};

const qwenObservation = (o: string) => turn("user", `<tool_response>\n${o}\n</tool_response>`) + HEADER;

export const qwen: BuiltinDef = {
  ...chatml,
  name: "qwen",
  description: "Qwen2/2.5: ChatML with Qwen's default system prompt",
  defaultSystem: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
  observation: qwenObservation,
};

export const qwen3_nothink: BuiltinDef = {
  ...chatml,
  name: "qwen3_nothink",
  description: "Qwen3 instruct (no thinking): ChatML without a default system prompt",
  observation: qwenObservation,
};

const EMPTY_THINK = "<think>\n\n</think>\n\n";

export const qwen3: BuiltinDef = {
  ...qwen3_nothink,
  name: "qwen3",
  description: "Qwen3 thinking: ChatML; answers without a <think> block get an empty one (trained)",
  assistant: (a) => [`${a.trimStart().startsWith("<think>") ? a : EMPTY_THINK + a}<|im_end|>`, "\n"],
};
