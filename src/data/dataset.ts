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
