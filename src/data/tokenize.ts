// Loads a Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json) and encodes in batches.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";
import { WhetError } from "../errors.ts";
import { displayPath } from "./read.ts";

export interface TokenizerInfo {
  dir: string;
  /** sha256 of tokenizer.json + tokenizer_config.json (+ chat_template.jinja) bytes. */
  hash: string;
  bosToken?: string;
  eosToken: string;
  padToken: string;
  bosId?: number;
  eosId: number;
  /** tokenizer_config pad_token, else eos. */
  padId: number;
  /** The Jinja chat template, if the tokenizer has one. */
  chatTemplate?: string;
  hasChatTemplate: boolean;
}

export type Progress = (done: number, total: number) => void;

export interface LoadedTokenizer {
  info: TokenizerInfo;
  tok: Tokenizer;
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new WhetError("TOKENIZER_INVALID", [{ where: displayPath(path), message: `cannot be read (${(e as Error).message}). Use the tokenizer files of the model as published.` }]);
  }
}

function pickTemplate(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => typeof t === "object" && t !== null && (t as { name?: unknown }).name === "default") ?? v[0];
    const t = (named as { template?: unknown } | undefined)?.template;
    return typeof t === "string" ? t : undefined;
  }
  return undefined;
}

/** Loads the tokenizer and its special tokens. Throws TOKENIZER_INVALID with the file when something is missing. */
export function loadTokenizer(dir: string): LoadedTokenizer {
  const tjPath = join(dir, "tokenizer.json");
  if (!existsSync(tjPath)) {
    throw new WhetError("TOKENIZER_INVALID", [
      { where: displayPath(dir), message: "has no tokenizer.json. Point the model path at a Hugging Face folder with tokenizer.json (fast tokenizer)." },
    ]);
  }
  const cfgPath = join(dir, "tokenizer_config.json");
  const jinjaPath = join(dir, "chat_template.jinja");
  const hash = createHash("sha256");
  hash.update(readFileSync(tjPath));
  const cfg = existsSync(cfgPath) ? readJson(cfgPath) : {};
  if (existsSync(cfgPath)) hash.update(readFileSync(cfgPath));
  let chatTemplate = pickTemplate(cfg.chat_template);
  if (existsSync(jinjaPath)) {
    const bytes = readFileSync(jinjaPath);
    hash.update(bytes);
    chatTemplate ??= bytes.toString("utf8");
  }
  let tok: Tokenizer;
  try {
    tok = Tokenizer.fromFile(tjPath);
  } catch (e) {
    throw new WhetError("TOKENIZER_INVALID", [{ where: displayPath(tjPath), message: `cannot be loaded (${(e as Error).message}). Use the file as published with the model.` }]);
  }
  tok.disableTruncation();
  tok.disablePadding();
  const idOf = (t: string | undefined) => (t === undefined ? undefined : (tok.tokenToId(t) ?? undefined));
  let eosToken = tokenString(cfg.eos_token);
  if (eosToken === undefined) {
    const gcPath = join(dir, "generation_config.json");
    const gc = existsSync(gcPath) ? readJson(gcPath) : {};
    const id = Array.isArray(gc.eos_token_id) ? gc.eos_token_id[0] : gc.eos_token_id;
    if (typeof id === "number") eosToken = tok.idToToken(id) ?? undefined;
  }
  const eosId = idOf(eosToken);
  if (eosToken === undefined || eosId === undefined) {
    throw new WhetError("TOKENIZER_INVALID", [
      { where: displayPath(existsSync(cfgPath) ? cfgPath : dir), message: "has no eos_token that is in the vocabulary. Set eos_token in tokenizer_config.json." },
    ]);
  }
  const padCfg = tokenString(cfg.pad_token);
  const padId = idOf(padCfg) ?? eosId;
  const bosToken = tokenString(cfg.bos_token);
  const bosId = idOf(bosToken);
  const info: TokenizerInfo = {
    dir,
    hash: hash.digest("hex"),
    eosToken,
    eosId,
    padToken: padCfg !== undefined && idOf(padCfg) !== undefined ? padCfg : eosToken,
    padId,
    hasChatTemplate: chatTemplate !== undefined,
    ...(bosToken !== undefined && bosId !== undefined ? { bosToken, bosId } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
  };
  return { info, tok };
}

/** Pad/eos ids and whether a chat template exists, for the CLI. */
export function loadTokenizerInfo(dir: string): TokenizerInfo {
  return loadTokenizer(dir).info;
}

/** Encodes texts without adding special tokens (templates add them), in batches, reporting progress. */
export async function encodeMany(tok: Tokenizer, texts: string[], onProgress?: Progress, batch = 2048): Promise<number[][]> {
  const out: number[][] = new Array(texts.length);
  for (let i = 0; i < texts.length; i += batch) {
    const chunk = texts.slice(i, i + batch);
    const encs = await tok.encodeBatch(chunk, { addSpecialTokens: false });
    for (let j = 0; j < encs.length; j++) out[i + j] = encs[j]!.getIds();
    onProgress?.(Math.min(i + batch, texts.length), texts.length);
  }
  if (texts.length === 0) onProgress?.(0, 0);
  return out;
}
