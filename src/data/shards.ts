// Token shards (docs/contracts.md): meta.json and little-endian arrays, written and read back.
// A folder is trusted only if meta.json is there and every array has the size meta.json says.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import type { Problem } from "../errors.ts";
import type { Doc } from "./types.ts";

export const FORMAT_VERSION = 1;

export interface DatasetMeta {
  name: string;
  file: string;
  sha256: string;
  records: number;
}

export interface ShardMeta {
  format_version: number;
  cache_key: string;
  tokenizer_hash: string;
  template: string;
  stage: string;
  cutoff_len: number;
  packing: boolean;
  seq_len: number;
  num_docs: number;
  num_rows: number;
  num_tokens: number;
  trained_tokens: number;
  pad_token_id: number;
  eos_token_id: number;
  packing_efficiency: number;
  datasets: DatasetMeta[];
  /** How several datasets were mixed (mix_strategy); absent in shards from before mixing existed. */
  mix_strategy?: string;
  /** Samples held out by val_size into the `eval` subfolder (a shard folder of the same format). */
  held_out_samples?: number;
  created: string;
}

/** What the caller decides; the counts are computed when writing. */
export type ShardHeader = Omit<ShardMeta, "format_version" | "cache_key" | "num_docs" | "num_rows" | "num_tokens" | "trained_tokens" | "created">;

export interface ShardContent {
  docs: Doc[];
  rows: number[][];
  header: ShardHeader;
  /** Warnings of the build, kept in warnings.json so a cached run can show them again. */
  warnings?: Problem[];
  /** The held-out split (val_size), written to the subfolder EVAL_DIR before the main meta.json. */
  eval?: ShardContent;
}

/** Subfolder of a shard folder that holds the held-out (val_size) split. */
export const EVAL_DIR = "eval";

export interface Shards {
  meta: ShardMeta;
  tokens: Uint32Array;
  lossMask: Uint8Array;
  docOffsets: BigUint64Array;
  rowDocs: BigUint64Array;
}

export const SHARD_FILES = ["tokens.bin", "loss_mask.bin", "doc_offsets.bin", "row_docs.bin"] as const;

function bytesLE(a: Uint32Array | Uint8Array | BigUint64Array): Buffer {
  const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (endianness() === "LE" || a.BYTES_PER_ELEMENT === 1) return buf;
  const copy = Buffer.from(buf);
  if (a.BYTES_PER_ELEMENT === 4) copy.swap32();
  else copy.swap64();
  return copy;
}

/** Lays documents out in row order and writes the arrays and meta.json into dir (which must exist). */
export function writeShardFiles(dir: string, key: string, content: ShardContent, beforeMeta?: (dir: string) => void): ShardMeta {
  const { docs, rows, header } = content;
  let numTokens = 0;
  let numDocs = 0;
  for (const row of rows) for (const d of row) {
    numTokens += docs[d]!.ids.length;
    numDocs++;
  }
  const tokens = new Uint32Array(numTokens);
  const mask = new Uint8Array(numTokens);
  const offsets = new BigUint64Array(numDocs + 1);
  const rowDocs = new BigUint64Array(rows.length + 1);
  let t = 0;
  let d = 0;
  let trained = 0;
  rows.forEach((row, r) => {
    for (const di of row) {
      const doc = docs[di]!;
      tokens.set(doc.ids, t);
      for (let j = 0; j < doc.mask.length; j++) {
        const m = j === 0 ? 0 : doc.mask[j]!;
        mask[t + j] = m;
        trained += m;
      }
      t += doc.ids.length;
      d++;
      offsets[d] = BigInt(t);
    }
    rowDocs[r + 1] = BigInt(d);
  });
  writeFileSync(join(dir, "tokens.bin"), bytesLE(tokens));
  writeFileSync(join(dir, "loss_mask.bin"), bytesLE(mask));
  writeFileSync(join(dir, "doc_offsets.bin"), bytesLE(offsets));
  writeFileSync(join(dir, "row_docs.bin"), bytesLE(rowDocs));
  writeFileSync(join(dir, "warnings.json"), JSON.stringify(content.warnings ?? [], null, 2) + "\n");
  beforeMeta?.(dir);
  const meta: ShardMeta = {
    format_version: FORMAT_VERSION,
    cache_key: key,
    ...header,
    num_docs: numDocs,
    num_rows: rows.length,
    num_tokens: numTokens,
    trained_tokens: trained,
    created: new Date().toISOString(),
  };
  writeFileSync(join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}

/** meta.json of a complete shard folder, or undefined if it is missing, partial or of another format. */
export function completeMeta(dir: string): ShardMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as ShardMeta;
    if (meta.format_version !== FORMAT_VERSION) return undefined;
    const want: Record<string, number> = {
      "tokens.bin": meta.num_tokens * 4,
      "loss_mask.bin": meta.num_tokens,
      "doc_offsets.bin": (meta.num_docs + 1) * 8,
      "row_docs.bin": (meta.num_rows + 1) * 8,
    };
    for (const [f, size] of Object.entries(want)) if (statSync(join(dir, f)).size !== size) return undefined;
    return meta;
  } catch {
    return undefined;
  }
}

function readLE<T>(path: string, bytesPer: number, make: (b: ArrayBuffer, n: number) => T): T {
  const buf = readFileSync(path);
  const copy = Buffer.from(buf);
  if (endianness() === "BE" && bytesPer === 4) copy.swap32();
  if (endianness() === "BE" && bytesPer === 8) copy.swap64();
  const ab = copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.byteLength) as ArrayBuffer;
  return make(ab, copy.byteLength / bytesPer);
}

/** The build warnings stored beside the shards ([] if none). */
export function readShardWarnings(dir: string): Problem[] {
  try {
    const w: unknown = JSON.parse(readFileSync(join(dir, "warnings.json"), "utf8"));
    return Array.isArray(w) ? (w as Problem[]) : [];
  } catch {
    return [];
  }
}

/** Reads a shard folder back into typed arrays (for inspect and tests). */
export function readShards(dir: string): Shards {
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as ShardMeta;
  return {
    meta,
    tokens: readLE(join(dir, "tokens.bin"), 4, (b) => new Uint32Array(b)),
    lossMask: readLE(join(dir, "loss_mask.bin"), 1, (b) => new Uint8Array(b)),
    docOffsets: readLE(join(dir, "doc_offsets.bin"), 8, (b) => new BigUint64Array(b)),
    rowDocs: readLE(join(dir, "row_docs.bin"), 8, (b) => new BigUint64Array(b)),
  };
}
