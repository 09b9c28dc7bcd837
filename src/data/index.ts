// Public API of the data pipeline.
export { prepareData, checkStage, PIPELINE_VERSION, type PrepareDataOptions, type PreparedData } from "./prepare.ts";
export { datasetOptions, type ConfigDataOptions } from "./options.ts";
export { loadTokenizer, loadTokenizerInfo, encodeMany, type TokenizerInfo, type LoadedTokenizer, type Progress } from "./tokenize.ts";
export { resolveDatasets, resolveDatasetDir, type ResolveOptions } from "./registry.ts";
export { readRecords, displayPath, type RawRecord } from "./read.ts";
export { loadSamples, loadDatasets, mixSamples, holdOut, detect, type LoadOptions, type MixStrategy } from "./dataset.ts";
export { toSamples, fillPlaceholders, type FormatOptions } from "./formats.ts";
export { selectTemplate, compareWithTokenizer, templateNames, BUILTINS, type ChatTemplate, type Segment } from "./template.ts";
export { encodeSamples, maskSegments, type EncodeOptions, type EncodeResult } from "./encode.ts";
export { packDocs, type PackResult } from "./pack.ts";
export { prepareShards, cacheKey, canonicalJson, type PrepareShardsInput, type PreparedShards } from "./cache.ts";
export { readShards, readShardWarnings, completeMeta, writeShardFiles, FORMAT_VERSION, SHARD_FILES, EVAL_DIR, type ShardMeta, type Shards, type ShardContent, type ShardHeader, type DatasetMeta } from "./shards.ts";
export { inspectData, inspectSample, renderInspect, type InspectOptions, type InspectDataOptions, type Inspected } from "./inspect.ts";
export type { Sample, ChatSample, TextSample, Message, Role, Stage, Doc, DatasetSpec } from "./types.ts";
