// Samples to documents: render with the template, tokenize segment by segment (so the loss
// boundaries are exact), build the loss mask, apply cutoff_len. Pretraining text: text + eos.
import type { Tokenizer } from "tokenizers";
import { WhetError } from "../errors.ts";
import type { ChatTemplate, Segment } from "./templates/types.ts";
import { encodeMany, type Progress } from "./tokenize.ts";
import { at, type ChatSample, type Doc, type Sample, type Stage } from "./types.ts";

export interface EncodeOptions {
  stage: Stage;
  cutoffLen: number;
  trainOnPrompt: boolean;
  maskHistory: boolean;
  eosId: number;
  /** How many chat samples get the "segments equal whole text" tokenization check. */
  checkFirst?: number;
  onProgress?: Progress;
}

export interface EncodeResult {
  docs: Doc[];
  /** Samples dropped because nothing trainable was left after cutoff_len. */
  dropped: number;
  /** Samples longer than cutoff_len (truncated, or split into chunks for pt). */
  truncated: number;
  /** Checked samples whose segment-wise tokens differ from tokenizing the whole text. */
  boundaryMismatches: number;
  checked: number;
}

const CHUNK = 1024;

/** Ids and mask of one rendered chat: trained segments get 1, the first token always 0. */
export function maskSegments(segs: Segment[], ids: number[][], opts: { trainOnPrompt: boolean; maskHistory: boolean }): Doc {
  const lastTurn = segs.reduce((m, s) => Math.max(m, s.turn), -1);
  const out: Doc = { ids: [], mask: [] };
  segs.forEach((s, i) => {
    const on = opts.trainOnPrompt || (s.train && (!opts.maskHistory || s.turn === lastTurn)) ? 1 : 0;
    for (const id of ids[i] ?? []) {
      out.ids.push(id);
      out.mask.push(on);
    }
  });
  if (out.mask.length > 0) out.mask[0] = 0;
  return out;
}

function hasTrained(mask: number[]): boolean {
  for (let i = 1; i < mask.length; i++) if (mask[i] === 1) return true;
  return false;
}

export async function encodeSamples(samples: Sample[], template: ChatTemplate | undefined, tok: Tokenizer, opts: EncodeOptions): Promise<EncodeResult> {
  const res: EncodeResult = { docs: [], dropped: 0, truncated: 0, boundaryMismatches: 0, checked: 0 };
  const checkFirst = opts.checkFirst ?? 256;
  for (let start = 0; start < samples.length; start += CHUNK) {
    const chunk = samples.slice(start, start + CHUNK);
    if (opts.stage === "pt") await encodeText(chunk, tok, opts, res);
    else await encodeChats(chunk, requireTemplate(template), tok, opts, res, Math.max(0, checkFirst - start));
    opts.onProgress?.(Math.min(start + CHUNK, samples.length), samples.length);
  }
  return res;
}

function requireTemplate(t: ChatTemplate | undefined): ChatTemplate {
  if (!t) throw new WhetError("TEMPLATE_INVALID", [{ where: "template", message: "is needed for chat data. Set template: or use a tokenizer with a chat_template." }]);
  return t;
}

function render(template: ChatTemplate, s: ChatSample): Segment[] {
  try {
    return template.render(s.messages, s.tools);
  } catch (e) {
    if (e instanceof WhetError) throw e;
    throw new WhetError("TEMPLATE_INVALID", [
      { where: at(s.loc), message: `cannot be rendered with the ${template.name} template (${(e as Error).message}). Fix the record or choose another template.` },
    ]);
  }
}

async function encodeChats(chunk: Sample[], template: ChatTemplate, tok: Tokenizer, opts: EncodeOptions, res: EncodeResult, check: number): Promise<void> {
  const rendered = chunk.map((s) => render(template, s as ChatSample));
  const texts = rendered.flatMap((segs) => segs.map((x) => x.text));
  const ids = await encodeMany(tok, texts);
  const nCheck = Math.min(check, rendered.length);
  const whole = nCheck > 0 ? await encodeMany(tok, rendered.slice(0, nCheck).map((segs) => segs.map((x) => x.text).join(""))) : [];
  let k = 0;
  rendered.forEach((segs, i) => {
    const doc = maskSegments(segs, ids.slice(k, k + segs.length), opts);
    k += segs.length;
    if (i < nCheck) {
      res.checked++;
      const w = whole[i]!;
      if (w.length !== doc.ids.length || w.some((x, j) => x !== doc.ids[j])) res.boundaryMismatches++;
    }
    if (doc.ids.length > opts.cutoffLen) {
      res.truncated++;
      doc.ids.length = opts.cutoffLen;
      doc.mask.length = opts.cutoffLen;
    }
    if (hasTrained(doc.mask)) res.docs.push(doc);
    else res.dropped++;
  });
}

/** Pretraining: text + eos; a text longer than cutoff_len is split into chunks, each its own document. */
async function encodeText(chunk: Sample[], tok: Tokenizer, opts: EncodeOptions, res: EncodeResult): Promise<void> {
  const ids = await encodeMany(tok, chunk.map((s) => (s.kind === "text" ? s.text : "")));
  for (const one of ids) {
    const all = [...one, opts.eosId];
    if (all.length > opts.cutoffLen) res.truncated++;
    for (let p = 0; p < all.length; p += opts.cutoffLen) {
      const part = all.slice(p, p + opts.cutoffLen);
      if (part.length < 2) {
        res.dropped++;
        continue;
      }
      res.docs.push({ ids: part, mask: part.map((_, j) => (j === 0 ? 0 : 1)) });
    }
  }
}
