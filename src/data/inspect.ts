// `whet data inspect`: one sample as rendered text (special tokens visible) and as tokens with
// their loss flag. renderInspect is pure; inspectData loads, renders and tokenizes one sample.
import { loadSamples } from "./dataset.ts";
import { encodeSamples } from "./encode.ts";
import { checkStage } from "./prepare.ts";
import { resolveDatasets } from "./registry.ts";
import { compareWithTokenizer, selectTemplate } from "./template.ts";
import { loadTokenizer } from "./tokenize.ts";
import { at, type Doc, type Sample } from "./types.ts";
import { WhetError, type Problem } from "../errors.ts";

export interface InspectOptions {
  /** ANSI colours (trained text green) instead of [[brackets]]. */
  color?: boolean;
  /** List at most this many tokens in the token table (default all). */
  maxTokens?: number;
  /** A heading line, e.g. "alpaca_en_demo.json:12". */
  title?: string;
}

const GREEN = "\x1b[32m";
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/**
 * Renders a tokenized document. pieces[i] is the decoded text of ids[i]. In plain mode, trained
 * text is wrapped in [[ ]] and trained tokens are marked with "+" in the table.
 */
export function renderInspect(doc: Doc, pieces: string[], opts: InspectOptions = {}): string {
  const { ids, mask } = doc;
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title);
  let text = "";
  let on = false;
  const open = opts.color ? GREEN : "[[";
  const close = opts.color ? RESET : "]]";
  ids.forEach((_, i) => {
    const m = mask[i] === 1;
    if (m !== on) {
      text += m ? open : close;
      on = m;
    }
    text += pieces[i] ?? "";
  });
  if (on) text += close;
  const trained = mask.reduce((a, b) => a + b, 0);
  const pct = ids.length === 0 ? 0 : (100 * trained) / ids.length;
  lines.push("--- text (trained parts " + (opts.color ? "in green" : "in [[ ]]") + ") ---", text, "--- tokens ---");
  const limit = Math.min(ids.length, opts.maxTokens ?? ids.length);
  const w = String(ids.length).length;
  for (let i = 0; i < limit; i++) {
    const flag = mask[i] === 1 ? "+" : " ";
    const row = `${String(i).padStart(w)} ${flag} ${String(ids[i]).padStart(6)}  ${JSON.stringify(pieces[i] ?? "")}`;
    lines.push(opts.color && mask[i] !== 1 ? DIM + row + RESET : row);
  }
  if (limit < ids.length) lines.push(`... ${ids.length - limit} more tokens`);
  lines.push(`tokens: ${ids.length}, trained: ${trained} (${pct.toFixed(1)}%), not trained: ${ids.length - trained}`);
  return lines.join("\n");
}

export interface InspectDataOptions {
  dataset: string;
  datasetDir: string;
  configDir: string;
  stage: string;
  template?: string | null;
  tokenizerDir: string;
  cutoffLen: number;
  trainOnPrompt?: boolean;
  maskHistory?: boolean;
  placeholders?: Record<string, string> | null;
  /** Which record of the dataset (0-based). */
  index?: number;
  color?: boolean;
  maxTokens?: number;
}

export interface Inspected {
  text: string;
  /**
   * What the user should know about this data: the dataset's registry entry keys that are not
   * honoured, and a named template that renders differently from the tokenizer's own chat_template.
   */
  warnings: Problem[];
}

/** Loads one record of a dataset and renders it for `whet data inspect`. */
export async function inspectData(opts: InspectDataOptions): Promise<string> {
  return (await inspectSample(opts)).text;
}

/** inspectData with the warnings whet train would print about the same dataset and template. */
export async function inspectSample(opts: InspectDataOptions): Promise<Inspected> {
  const stage = checkStage(opts.stage);
  const [spec] = resolveDatasets([opts.dataset], { datasetDir: opts.datasetDir, configDir: opts.configDir });
  const warnings: Problem[] = [...spec!.warnings];
  const index = opts.index ?? 0;
  const samples = loadSamples(spec!, { stage, maxSamples: index + 1, ...(opts.placeholders ? { placeholders: opts.placeholders } : {}) });
  const sample: Sample | undefined = samples[index];
  if (!sample) {
    throw new WhetError("USAGE", [{ where: "index", message: `is ${index} but ${opts.dataset} has ${samples.length} records. Use an index below ${samples.length}.` }]);
  }
  const { info, tok } = loadTokenizer(opts.tokenizerDir);
  const template = stage === "sft" ? selectTemplate(opts.template ?? undefined, info, tok) : undefined;
  const mismatch = template && compareWithTokenizer(template, info);
  if (mismatch) warnings.push(mismatch);
  const enc = await encodeSamples([sample], template, tok, {
    stage,
    cutoffLen: opts.cutoffLen,
    trainOnPrompt: opts.trainOnPrompt ?? false,
    maskHistory: opts.maskHistory ?? false,
    eosId: info.eosId,
  });
  const doc = enc.docs[0];
  if (!doc) return { text: `${at(sample.loc)}: nothing left to train within cutoff_len ${opts.cutoffLen}; this sample would be dropped.`, warnings };
  const pieces = await tok.decodeBatch(doc.ids.map((id) => [id]), false);
  const note = enc.truncated > 0 ? ` (truncated to cutoff_len ${opts.cutoffLen})` : "";
  const text = renderInspect(doc, pieces, {
    title: `${at(sample.loc)} template ${template?.name ?? "none (pt)"}${note}`,
    ...(opts.color !== undefined ? { color: opts.color } : {}),
    ...(opts.maxTokens !== undefined ? { maxTokens: opts.maxTokens } : {}),
  });
  return { text, warnings };
}
