// Picks the chat template: a named built-in, or the tokenizer's chat_template (Jinja).
import type { Tokenizer } from "tokenizers";
import { closest } from "fastest-levenshtein";
import { WhetError } from "../errors.ts";
import { BUILTINS, builtinTemplate } from "./templates/builtin.ts";
import { jinjaTemplate } from "./templates/jinja.ts";
import type { ChatTemplate, TemplateTokens } from "./templates/types.ts";
import type { TokenizerInfo } from "./tokenize.ts";
import { displayPath } from "./read.ts";

export type { ChatTemplate, Segment } from "./templates/types.ts";
export { BUILTINS } from "./templates/builtin.ts";

/** Names accepted by `template:`; "tokenizer" means the tokenizer's chat_template. */
export function templateNames(): string[] {
  return [...Object.keys(BUILTINS), "tokenizer"];
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
  const def = BUILTINS[name];
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
