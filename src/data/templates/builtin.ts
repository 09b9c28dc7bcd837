// Renders a conversation with a built-in template definition.
import type { Message } from "../types.ts";
import { chatml, qwen, qwen3, qwen3_nothink } from "./chatml.ts";
import { empty, gemma, llama3, mistral, plainDefault } from "./others.ts";
import { pushSegment, type BuiltinDef, type ChatTemplate, type Segment, type TemplateTokens } from "./types.ts";

export const BUILTINS: Record<string, BuiltinDef> = Object.fromEntries(
  [chatml, qwen, qwen3, qwen3_nothink, llama3, mistral, gemma, plainDefault, empty].map((d) => [d.name, d]),
);

/** The definition's code and strings: changes whenever the rendering could change. */
function sourceOf(def: BuiltinDef): string {
  return JSON.stringify(def, (_k, v: unknown) => (typeof v === "function" ? v.toString() : v));
}

export function builtinTemplate(def: BuiltinDef, tokens: TemplateTokens): ChatTemplate {
  return {
    name: def.name,
    source: `builtin:${sourceOf(def)}:${JSON.stringify(tokens)}`,
    render: (messages) => renderBuiltin(def, tokens, messages),
    rendersTools: false,
  };
}

export function renderBuiltin(def: BuiltinDef, t: TemplateTokens, messages: Message[]): Segment[] {
  const out: Segment[] = [];
  pushSegment(out, def.prefix?.(t) ?? "", false, -1);
  let rest = messages;
  let system = def.defaultSystem;
  if (messages[0]?.role === "system") {
    system = messages[0].content;
    rest = messages.slice(1);
  }
  let pending: string | undefined;
  if (system !== undefined && system !== "") {
    if (def.system) pushSegment(out, def.system(system, t), false, -1);
    else pending = system;
  }
  let turn = 0;
  for (const m of rest) {
    if (m.role === "user" || m.role === "observation") {
      let content = m.content;
      if (pending !== undefined && m.role === "user") {
        content = (def.mergeSystem ?? ((s, u) => `${s}\n\n${u}`))(pending, content);
        pending = undefined;
      }
      pushSegment(out, m.role === "user" ? def.user(content, t) : def.observation(content, t), false, -1);
    } else if (m.role === "assistant" || m.role === "function") {
      const [trained, after] = def.assistant(m.content, t);
      pushSegment(out, trained, true, turn);
      pushSegment(out, after, false, -1);
      turn++;
    }
  }
  return out;
}
