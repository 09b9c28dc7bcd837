// The dataset section of a validated config as prepareData's options, in one place, so a new
// dataset key reaches the pipeline without its callers (whet train, data inspect) changing.
import type { RunConfig } from "../config/schema.ts";
import { interleaveProbs } from "../config/validate.ts";
import type { PrepareDataOptions } from "./prepare.ts";

/** Every option of prepareData that the config decides; the caller adds the folders and the tokenizer. */
export type ConfigDataOptions = Omit<PrepareDataOptions, "configDir" | "tokenizerDir" | "cacheRoot" | "onProgress" | "beforeMeta">;

export function datasetOptions(config: RunConfig): ConfigDataOptions {
  return {
    datasets: config.dataset.split(",").map((s) => s.trim()).filter(Boolean),
    datasetDir: config.dataset_dir,
    stage: config.stage,
    template: config.template ?? null,
    cutoffLen: config.cutoff_len,
    packing: config.packing,
    trainOnPrompt: config.train_on_prompt,
    maskHistory: config.mask_history,
    maxSamples: config.max_samples ?? null,
    mixStrategy: config.mix_strategy,
    interleaveProbs: interleaveProbs(config.interleave_probs) ?? null,
    valSize: config.val_size,
    seed: config.seed,
    placeholders: config.dataset_placeholders ?? null,
  };
}
