// Picks the chat template: a named built-in, or the tokenizer's chat_template (Jinja).
import type { Tokenizer } from "tokenizers";
import { closest } from "fastest-levenshtein";
import { WhetError } from "../errors.ts";
import { BUILTINS, builtinTemplate } from "./templates/builtin.ts";
import { jinjaTemplate } from "./templates/jinja.ts";
import { LF_ALIASES, LF_WITHOUT_BUILTIN } from "./templates/llamafactory.ts";
import type { Problem } from "../errors.ts";
import type { Message } from "./types.ts";
import type { ChatTemplate, TemplateTokens } from "./templates/types.ts";
import type { TokenizerInfo } from "./tokenize.ts";
import { displayPath } from "./read.ts";

export type { ChatTemplate, Segment } from "./templates/types.ts";
export { BUILTINS } from "./templates/builtin.ts";

/** Names accepted by `template:`; "tokenizer" means the tokenizer's chat_template. */
export function templateNames(): string[] {
  return [...Object.keys(BUILTINS), ...Object.keys(LF_ALIASES), "tokenizer"];
}

export function tokensOf(info: TokenizerInfo): TemplateTokens {
  return { eos: info.eosToken, pad: info.padToken, ...(info.bosToken !== undefined ? { bos: info.bosToken } : {}) };
}

/**
 * The template to render chats with. `name` unset or "tokenizer": the tokenizer's chat_template,
 * which must exist. A built-in needs its special tokens in the tokenizer (checked when tok is given).
 */
export function selectTemplate(name: string | undefined, info: TokenizerInfo, tok?: Tokenizer): ChatTemplate {
  const tokens = tokensOf(info);
  if (name === undefined || name === "" || name === "tokenizer") {
    if (info.chatTemplate === undefined) {
      throw new WhetError("TEMPLATE_INVALID", [
        {
          where: "template",
          message: `is not set and the tokenizer in ${displayPath(info.dir)} has no chat_template. Set template: chatml (or ${Object.keys(BUILTINS).filter((n) => n !== "chatml").join(", ")}) to match the model.`,
        },
      ]);
    }
    return jinjaTemplate(info.chatTemplate, tokens);
  }
  const def = BUILTINS[LF_ALIASES[name] ?? name];
  if (!def && LF_WITHOUT_BUILTIN.has(name)) {
    throw new WhetError("TEMPLATE_INVALID", [
      {
        where: "template",
        message: `"${name}" is a LLaMA-Factory template that whet has no built-in for. Leave template unset to use the model's own chat_template (what ${name} imitates), or use one of ${Object.keys(BUILTINS).join(", ")}.`,
      },
    ]);
  }
  if (!def) {
    throw new WhetError("TEMPLATE_INVALID", [
      { where: "template", message: `"${name}" is not a known template. Did you mean "${closest(name, templateNames())}"? Known: ${templateNames().join(", ")}.` },
    ]);
  }
  if (tok) {
    const missing = def.special.filter((s) => tok.tokenToId(s) === null || tok.tokenToId(s) === undefined);
    if (missing.length > 0) {
      throw new WhetError("TEMPLATE_INVALID", [
        {
          where: "template",
          message: `${name} uses ${missing.join(", ")}, which the tokenizer in ${displayPath(info.dir)} does not have as a token. Use the template made for this model, or leave template unset to use its chat_template.`,
        },
      ]);
    }
  }
  return builtinTemplate(def, tokens);
}

/** A conversation that exercises system, user and assistant turns, twice. */
const PROBE: Message[] = [
  { role: "system", content: "You are a careful assistant." },
  { role: "user", content: "What is 2+2?" },
  { role: "assistant", content: "4." },
  { role: "user", content: "And 3+3?" },
  { role: "assistant", content: "6." },
];

/**
 * Compares a named template with the tokenizer's own chat_template on a probe conversation (with and
 * without a system message). A difference means the model will see a format it was not tuned on.
 * Undefined when they agree, when there is no chat_template, or when the template is the tokenizer's.
 */
export function compareWithTokenizer(template: ChatTemplate, info: TokenizerInfo): Problem | undefined {
  if (info.chatTemplate === undefined || template.name === "jinja") return undefined;
  let own: ChatTemplate;
  try {
    own = jinjaTemplate(info.chatTemplate, tokensOf(info));
  } catch {
    return undefined;
  }
  for (const messages of [PROBE, PROBE.slice(1)]) {
    let ours: string;
    let theirs: string;
    try {
      ours = template.render(messages).map((s) => s.text).join("");
      theirs = own.render(messages).map((s) => s.text).join("");
    } catch {
      return undefined;
    }
    if (ours === theirs) continue;
    let i = 0;
    while (i < ours.length && i < theirs.length && ours[i] === theirs[i]) i++;
    const show = (t: string) => JSON.stringify(t.slice(i, i + 40));
    const what = messages === PROBE ? "a conversation with a system message" : "a conversation without a system message";
    return {
      where: "template",
      message: `${template.name} renders ${what} differently from the tokenizer's chat_template in ${displayPath(info.dir)}, from character ${i}: ${template.name} gives ${show(ours)}, the tokenizer gives ${show(theirs)}. Leave template unset to train in the model's own format, or keep ${template.name} if that is the format you want.`,
    };
  }
  return undefined;
}
