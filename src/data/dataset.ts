// Loads one resolved dataset into samples: read, detect the format of direct paths, cap, convert.
import { WhetError } from "../errors.ts";
import { toSamples } from "./formats.ts";
import { readRecords, type RawRecord } from "./read.ts";
import { at, type Columns, type DatasetSpec, type Formatting, type Sample, type Stage } from "./types.ts";

export interface LoadOptions {
  stage: Stage;
  /** Keep only the first N records of the dataset. */
  maxSamples?: number;
  placeholders?: Record<string, string>;
}

export function loadSamples(spec: DatasetSpec, opts: LoadOptions): Sample[] {
  let records = readRecords(spec.file);
  if (opts.maxSamples !== undefined && opts.maxSamples >= 0) records = records.slice(0, opts.maxSamples);
  const { formatting, columns } = spec.formatting === "auto" ? detect(records, opts.stage) : { formatting: spec.formatting, columns: spec.columns };
  return toSamples(records, {
    formatting,
    columns,
    tags: spec.tags,
    stage: opts.stage,
    ...(opts.placeholders ? { placeholders: opts.placeholders } : {}),
  });
}

/** Decides the format of a file given by path, from its first record. */
export function detect(records: RawRecord[], stage: Stage): { formatting: Formatting; columns: Columns } {
  const first = records[0];
  const v = first?.value;
  const where = first ? at(first.loc) : "dataset";
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new WhetError("DATASET_INVALID", [{ where, message: "is not a JSON object. Each record must be an object (alpaca, sharegpt or {\"text\": ...})." }]);
  }
  if (stage === "pt") return { formatting: "alpaca", columns: { prompt: "text" } };
  if (Array.isArray((v as Record<string, unknown>).messages)) return { formatting: "sharegpt", columns: { messages: "messages" } };
  if (Array.isArray((v as Record<string, unknown>).conversations)) return { formatting: "sharegpt", columns: { messages: "conversations" } };
  if ("instruction" in v) return { formatting: "alpaca", columns: {} };
  if ("text" in v) {
    throw new WhetError("DATASET_INVALID", [{ where, message: "has only a \"text\" column, which is pretraining data. Use stage: pt, or give chat records." }]);
  }
  throw new WhetError("DATASET_INVALID", [
    {
      where,
      message: "has neither instruction/output (alpaca) nor messages/conversations (sharegpt). Use one of these shapes, or register the file in dataset_info.json with its columns.",
    },
  ]);
}

// ---- Mixing several datasets (LLaMA-Factory's mix_strategy) and holding out a validation split.
// Both are pure and seeded, so the same inputs give the same rows on every machine.

export type MixStrategy = "concat" | "interleave_under" | "interleave_over";

export interface MixOptions {
  strategy: MixStrategy;
  /** interleave_probs: one weight per dataset; absent means round-robin. */
  probs?: number[];
  seed: number;
}

/** A small, fast, seeded generator (mulberry32): floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * concat: one after the other. interleave_under: draw a dataset per row (by probs, else in turn)
 * until one runs out (HF's first_exhausted; in turn: whole rounds of the shortest). interleave_over:
 * keep drawing, restarting datasets that ran out, until every dataset has been used whole at least
 * once (HF's all_exhausted; in turn: whole rounds of the longest).
 */
export function mixSamples<T>(lists: T[][], opts: MixOptions): T[] {
  if (opts.strategy === "concat" || lists.length <= 1) {
    if (opts.probs !== undefined && opts.strategy === "concat" && lists.length > 1) {
      throw new WhetError("CONFIG_INVALID", [{ where: "interleave_probs", message: "is only used with mix_strategy: interleave_under or interleave_over. Remove it, or set mix_strategy." }]);
    }
    return lists.flat();
  }
  const weights = normalizedProbs(opts.probs, lists.length);
  if (!weights) {
    // Whole rounds, as HF's interleave_datasets: min length (under) or max length (over, cycling) rounds.
    const lens = lists.map((l) => l.length);
    const rounds = opts.strategy === "interleave_under" ? Math.min(...lens) : Math.max(...lens);
    const out: T[] = [];
    for (let r = 0; r < rounds; r++) for (const l of lists) if (l.length > 0) out.push(l[r % l.length]!);
    return out;
  }
  const rand = seededRandom(opts.seed);
  const pos = lists.map(() => 0);
  const done = lists.map((l, k) => l.length === 0 || weights?.[k] === 0);
  const out: T[] = [];
  const limit = lists.reduce((n, l) => n + l.length, 0) * lists.length * 4 + 16; // guards against tiny probabilities never finishing
  while (out.length < limit) {
    const k = pick(weights, rand());
    const list = lists[k]!;
    if (list.length === 0) {
      if (opts.strategy === "interleave_under") break;
      continue;
    }
    out.push(list[pos[k]!]!);
    pos[k]!++;
    if (pos[k]! >= list.length) {
      done[k] = true;
      if (opts.strategy === "interleave_under") break;
      if (done.every(Boolean)) break;
      pos[k] = 0;
    }
  }
  return out;
}

function normalizedProbs(probs: number[] | undefined, n: number): number[] | undefined {
  if (probs === undefined) return undefined;
  if (probs.length !== n) {
    throw new WhetError("CONFIG_INVALID", [{ where: "interleave_probs", message: `has ${probs.length} values for ${n} datasets. Give one probability per dataset, comma separated.` }]);
  }
  if (probs.some((p) => !Number.isFinite(p) || p < 0) || probs.every((p) => p === 0)) {
    throw new WhetError("CONFIG_INVALID", [{ where: "interleave_probs", message: `must be non-negative numbers, not all 0, got ${probs.join(",")}. Use values like 0.7,0.3.` }]);
  }
  const sum = probs.reduce((a, b) => a + b, 0);
  return probs.map((p) => p / sum);
}

function pick(weights: number[], r: number): number {
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (r < acc) return i;
  }
  return weights.length - 1;
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx;
}

/** How many of n samples val_size holds out: a fraction in (0, 1) (rounded up, as HF does) or a count. */
export function heldOutCount(valSize: number, n: number): number {
  if (!Number.isFinite(valSize) || valSize < 0 || (valSize >= 1 && !Number.isInteger(valSize))) {
    throw new WhetError("CONFIG_INVALID", [{ where: "val_size", message: `must be a fraction in [0, 1) or a whole number of samples, got ${valSize}. Use 0.1 or 100.` }]);
  }
  const k = valSize < 1 ? Math.ceil(valSize * n) : valSize;
  if (k >= n) {
    throw new WhetError("CONFIG_INVALID", [{ where: "val_size", message: `holds out ${k} of ${n} samples, which leaves none to train on. Use a smaller val_size.` }]);
  }
  return k;
}

/** Splits off val_size samples chosen by seed; the training samples keep their order. */
export function holdOut<T>(samples: T[], valSize: number, seed: number): { train: T[]; heldOut: T[] } {
  const k = heldOutCount(valSize, samples.length);
  if (k === 0) return { train: samples, heldOut: [] };
  const chosen = new Set(permutation(samples.length, seed).slice(0, k));
  const train: T[] = [];
  const held: T[] = [];
  samples.forEach((s, i) => (chosen.has(i) ? held : train).push(s));
  return { train, heldOut: held };
}

export interface LoadAllOptions extends LoadOptions {
  mix?: Omit<MixOptions, "seed">;
  /** val_size: a fraction in [0, 1) or a count; 0 or absent holds out nothing. */
  valSize?: number;
  seed: number;
}

export interface LoadedDatasets {
  /** The samples to train on, mixed and without the held-out ones. */
  train: Sample[];
  /** The held-out validation samples (val_size). */
  heldOut: Sample[];
  /** Samples read from each dataset (after max_samples). */
  counts: { name: string; file: string; samples: number }[];
}

/** Every dataset of the run: load each (capped by max_samples), mix them, hold out val_size. */
export function loadDatasets(specs: DatasetSpec[], opts: LoadAllOptions): LoadedDatasets {
  const lists = specs.map((s) => loadSamples(s, opts));
  const mixed = mixSamples(lists, { strategy: opts.mix?.strategy ?? "concat", ...(opts.mix?.probs ? { probs: opts.mix.probs } : {}), seed: opts.seed });
  const { train, heldOut } = opts.valSize ? holdOut(mixed, opts.valSize, opts.seed) : { train: mixed, heldOut: [] };
  return { train, heldOut, counts: specs.map((s, i) => ({ name: s.name, file: s.file, samples: lists[i]!.length })) };
}
