// What a chat template produces: the rendered text cut into segments that do or do not carry loss.
import type { Message } from "../types.ts";

export interface Segment {
  text: string;
  /** True for an assistant turn's content and its end-of-turn token(s). */
  train: boolean;
  /** Index of the assistant turn a trained segment belongs to; -1 for prompt segments. */
  turn: number;
}

export interface ChatTemplate {
  /** "chatml", "llama3", ... or "jinja" for the tokenizer's chat_template. */
  name: string;
  /** Everything that decides the rendered bytes (for the cache key). */
  source: string;
  render(messages: Message[], tools?: string): Segment[];
  /** Whether tool definitions (a dataset's tools column) appear in the rendered text. */
  rendersTools: boolean;
}

/** Special tokens of the tokenizer that templates may use. */
export interface TemplateTokens {
  bos?: string;
  eos: string;
  pad?: string;
}

/** A built-in template: how each role is written. Prompt parts are untrained. */
export interface BuiltinDef {
  name: string;
  description: string;
  defaultSystem?: string;
  /** Strings that must be single tokens of the tokenizer. */
  special: string[];
  prefix?: (t: TemplateTokens) => string;
  /** Absent: the system text is merged into the first user message with mergeSystem. */
  system?: (s: string, t: TemplateTokens) => string;
  mergeSystem?: (s: string, user: string) => string;
  /** The user turn, including the assistant header that follows it. */
  user: (u: string, t: TemplateTokens) => string;
  /** A tool result, including the assistant header that follows it. */
  observation: (o: string, t: TemplateTokens) => string;
  /** [content plus end-of-turn (trained), what follows it (untrained)]. */
  assistant: (a: string, t: TemplateTokens) => [string, string];
}

/** Appends a segment, merging it into the previous one when both have the same kind. */
export function pushSegment(out: Segment[], text: string, train: boolean, turn: number): void {
  if (text === "") return;
  const last = out[out.length - 1];
  if (last && last.train === train && last.turn === turn) last.text += text;
  else out.push({ text, train, turn });
}
