// The tokenizer's own chat_template (Jinja). Assistant spans are found by rendering prefixes of the
// conversation: render(messages[:i], add_generation_prompt) is the prompt before turn i, and
// render(messages[:i+1]) ends where turn i ends. Inside the span, the content and the end-of-turn
// token(s) right after it carry loss; the header before and anything after (e.g. "\n") do not.
import { Template } from "@huggingface/jinja";
import { WhetError } from "../../errors.ts";
import type { Message } from "../types.ts";
import { pushSegment, type ChatTemplate, type Segment, type TemplateTokens } from "./types.ts";

const END_TOKENS = ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>"];

interface JinjaMessage {
  role: string;
  content: string;
}

function toJinja(m: Message): JinjaMessage {
  const role = m.role === "observation" ? "tool" : m.role === "function" ? "assistant" : m.role;
  return { role, content: m.content };
}

export function jinjaTemplate(source: string, tokens: TemplateTokens): ChatTemplate {
  let tpl: Template;
  try {
    tpl = new Template(source);
  } catch (e) {
    throw new WhetError("TEMPLATE_INVALID", [
      { where: "chat_template", message: `cannot be parsed (${(e as Error).message}). Set template: to a built-in template such as chatml.` },
    ]);
  }
  const ends = [tokens.eos, ...END_TOKENS.filter((t) => t !== tokens.eos)];
  const base = { bos_token: tokens.bos ?? "", eos_token: tokens.eos, pad_token: tokens.pad ?? tokens.eos };
  const render = (messages: JinjaMessage[], addGen: boolean, tools: unknown): string =>
    tpl.render({ ...base, messages, add_generation_prompt: addGen, ...(tools !== undefined ? { tools } : {}) });
  return {
    name: "jinja",
    source: `jinja:${source}:${JSON.stringify(tokens)}`,
    rendersTools: /\btools\b/.test(source),
    render: (messages, toolsText) => {
      let tools: unknown;
      if (toolsText !== undefined) {
        try {
          tools = JSON.parse(toolsText);
        } catch {
          tools = toolsText;
        }
      }
      return splitTurns(messages.map(toJinja), (ms, g) => render(ms, g, tools), ends);
    },
  };
}

export function splitTurns(msgs: JinjaMessage[], render: (ms: JinjaMessage[], addGen: boolean) => string, ends: string[]): Segment[] {
  const full = render(msgs, false);
  return byPrefixes(msgs, full, render, ends) ?? byContent(msgs, full, ends);
}

/** Spans from prefix renders; undefined when the template renders earlier turns differently later. */
function byPrefixes(msgs: JinjaMessage[], full: string, render: (ms: JinjaMessage[], addGen: boolean) => string, ends: string[]): Segment[] | undefined {
  const out: Segment[] = [];
  let pos = 0;
  let turn = 0;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    if (m.role !== "assistant") continue;
    const before = render(msgs.slice(0, i), true);
    const after = render(msgs.slice(0, i + 1), false);
    if (!after.startsWith(before) || !full.startsWith(after) || before.length < pos) return undefined;
    const span = after.slice(before.length);
    const [start, end] = trainedRange(span, m.content, ends);
    pushSegment(out, full.slice(pos, before.length + start), false, -1);
    pushSegment(out, span.slice(start, end), true, turn);
    pos = before.length + end;
    turn++;
  }
  pushSegment(out, full.slice(pos), false, -1);
  return out;
}

/**
 * Fallback for templates that rewrite history (e.g. drop reasoning from earlier turns): find each
 * message's content in the full text, in order; an assistant content plus the end token after it is trained.
 */
function byContent(msgs: JinjaMessage[], full: string, ends: string[]): Segment[] {
  const out: Segment[] = [];
  let pos = 0; // end of the text already cut into segments
  let search = 0; // where the next message's content is looked for
  let turn = 0;
  msgs.forEach((m, i) => {
    const c = full.indexOf(m.content, search) >= 0 ? m.content : m.content.trim();
    const idx = full.indexOf(c, search);
    if (idx < 0 || (m.role === "assistant" && c === "")) {
      throw new WhetError("TEMPLATE_INVALID", [
        {
          where: "chat_template",
          message: `changes the text of message ${i + 1} and renders earlier turns differently once later turns are added, so the assistant turns cannot be found. Set template: to a built-in template (e.g. chatml, qwen3, llama3).`,
        },
      ]);
    }
    if (m.role !== "assistant") {
      search = idx + c.length;
      return;
    }
    const [, end] = trainedRange(full.slice(idx), c, ends);
    pushSegment(out, full.slice(pos, idx), false, -1);
    pushSegment(out, full.slice(idx, idx + end), true, turn);
    pos = search = idx + end;
    turn++;
  });
  pushSegment(out, full.slice(pos), false, -1);
  return out;
}

/** [start, end) of the trained part of an assistant span: the content and the end token after it. */
function trainedRange(span: string, content: string, ends: string[]): [number, number] {
  let start = -1;
  let contentEnd = -1;
  for (const c of [content, content.trim()]) {
    if (c === "") continue;
    const idx = span.indexOf(c);
    if (idx >= 0) {
      start = idx;
      contentEnd = idx + c.length;
      break;
    }
  }
  if (start < 0) {
    // Content not found verbatim (empty, or changed by the template): train the span up to its last end token.
    let best = -1;
    let bestLen = 0;
    for (const e of ends) {
      const j = span.lastIndexOf(e);
      if (j > best) [best, bestLen] = [j, e.length];
    }
    if (best < 0) return [0, span.trimEnd().length];
    const header = content === "" ? best : 0;
    return [header, best + bestLen];
  }
  let endAt = -1;
  for (const e of ends) {
    const j = span.indexOf(e, contentEnd);
    if (j >= 0 && (endAt < 0 || j < endAt)) endAt = j + e.length;
  }
  if (endAt < 0) endAt = contentEnd;
  return [start, endAt];
}
