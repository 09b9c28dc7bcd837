// What `whet chat` sends the model: the conversation rendered with the template the run trained
// with, up to where the assistant's answer starts, and the token ids that end that answer.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Tokenizer } from "tokenizers";
import { selectTemplate, type ChatTemplate } from "../data/template.ts";
import type { TokenizerInfo } from "../data/tokenize.ts";
import type { Message } from "../data/types.ts";
import { WhetError } from "../errors.ts";

/** Stands in for the answer so the text before it is exactly the generation prompt. */
const ANSWER = "WHET_CHAT_ANSWER_7f3a";

/**
 * The template a run trained with: the name its token shards recorded (meta.json "template":
 * "jinja" for the tokenizer's own chat_template, a built-in name, or "none" for pt), else the
 * run's config.yaml `template` key, else the tokenizer's chat_template.
 */
export function runTemplateName(runDir: string, shardDir: string | undefined): string | undefined {
  const metaPath = shardDir ? join(shardDir, "meta.json") : undefined;
  if (metaPath && existsSync(metaPath)) {
    try {
      const t = (JSON.parse(readFileSync(metaPath, "utf8")) as { template?: unknown }).template;
      if (typeof t === "string" && t !== "") return t === "jinja" ? undefined : t;
    } catch {
      // unreadable meta: fall back to the config
    }
  }
  const configPath = join(runDir, "config.yaml");
  if (existsSync(configPath)) {
    try {
      const c = parseYaml(readFileSync(configPath, "utf8")) as Record<string, unknown> | null;
      if (c && c.stage === "pt") return "none";
      if (c && typeof c.template === "string" && c.template !== "") return c.template;
    } catch {
      // unreadable config: the tokenizer's own template
    }
  }
  return undefined;
}

export interface ChatFormat {
  /** undefined for "none": the prompt is the user's text as it is. */
  template: ChatTemplate | undefined;
  /** The text that ends an assistant turn in this template, e.g. "<|im_end|>" ("" if unknown). */
  endOfTurn: string;
  /** Token ids that end generation: the tokenizer's eos, the template's end of turn, generation_config's eos. */
  stopIds: number[];
}

export function chatFormat(name: string | undefined, info: TokenizerInfo, tok: Tokenizer, modelDir: string): ChatFormat {
  const template = name === "none" ? undefined : selectTemplate(name, info, tok);
  const stop = new Set<number>([info.eosId]);
  let endOfTurn = "";
  if (template) {
    const segs = template.render([
      { role: "user", content: "Hi" },
      { role: "assistant", content: ANSWER },
    ]);
    const seg = segs.find((s) => s.train && s.text.includes(ANSWER));
    endOfTurn = seg ? seg.text.slice(seg.text.indexOf(ANSWER) + ANSWER.length).trim() : "";
    const id = endOfTurn ? tok.tokenToId(endOfTurn) : undefined;
    if (typeof id === "number") stop.add(id);
  }
  for (const id of generationEos(modelDir)) stop.add(id);
  return { template, endOfTurn, stopIds: [...stop] };
}

function generationEos(dir: string): number[] {
  const path = join(dir, "generation_config.json");
  if (!existsSync(path)) return [];
  try {
    const v = (JSON.parse(readFileSync(path, "utf8")) as { eos_token_id?: unknown }).eos_token_id;
    return (Array.isArray(v) ? v : [v]).filter((x): x is number => typeof x === "number");
  } catch {
    return [];
  }
}

/** The rendered conversation up to where the assistant's next answer starts. */
export function generationPrompt(format: ChatFormat, messages: Message[]): string {
  if (!format.template) return messages.filter((m) => m.role === "user").map((m) => m.content).join("\n");
  const text = format.template
    .render([...messages, { role: "assistant", content: ANSWER }])
    .map((s) => s.text)
    .join("");
  const at = text.lastIndexOf(ANSWER);
  if (at < 0) {
    throw new WhetError("TEMPLATE_INVALID", [
      { where: "template", message: `${format.template.name} does not show the assistant's answer verbatim, so whet chat cannot tell where an answer starts.` },
    ]);
  }
  return text.slice(0, at);
}
