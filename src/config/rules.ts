// Cross-field rules, run after the schema accepted every key. Each rule is a small pure function
// of the normalized config and the set of keys the user wrote; it returns errors and warnings.
import type { RunConfig } from "./schema.ts";
import type { KeyProblem } from "./issues.ts";

export interface RuleInput {
  config: RunConfig;
  /** Keys the user wrote (file or command line), as opposed to defaults. */
  given: ReadonlySet<string>;
}

export interface RuleResult {
  errors: KeyProblem[];
  warnings: KeyProblem[];
}

type Rule = (input: RuleInput, out: RuleResult) => void;

const onlyTraining: Rule = ({ config }, out) => {
  if (!config.do_train) out.errors.push({ key: "do_train", message: "is false, but whetstone only trains. Remove the key or set do_train: true." });
};

const onePrecision: Rule = ({ config }, out) => {
  if (config.bf16 && config.fp16) {
    out.errors.push({ key: "fp16", message: "is true together with bf16. Keep bf16: true on GPUs that have bfloat16 (Ampere or newer), else fp16: true, not both." });
  }
};

const loraKeysNeedLora: Rule = ({ config, given }, out) => {
  if (config.finetuning_type !== "full") return;
  for (const key of ["lora_rank", "lora_alpha", "lora_dropout", "lora_target", "export_merge_lora"]) {
    if (given.has(key)) out.warnings.push({ key, message: "is ignored with finetuning_type: full. Remove it, or set finetuning_type: lora." });
  }
};

const stepsOrEpochs: Rule = ({ config, given }, out) => {
  if (config.max_steps === 0) {
    out.errors.push({ key: "max_steps", message: "is 0, which trains nothing. Use a number of steps like 100, or -1 to train num_train_epochs." });
  } else if (config.max_steps > 0 && given.has("num_train_epochs")) {
    out.warnings.push({ key: "num_train_epochs", message: `is ignored because max_steps is ${config.max_steps}. Remove one of the two.` });
  } else if (!given.has("max_steps") && !given.has("num_train_epochs")) {
    out.warnings.push({ key: "num_train_epochs", message: `is not set, nor is max_steps, so the run trains ${config.num_train_epochs} epochs (the default). Set one of them to silence this.` });
  }
};

const warmup: Rule = ({ config, given }, out) => {
  if (config.warmup_steps > 0 && config.warmup_ratio > 0) {
    out.warnings.push({ key: "warmup_ratio", message: `is ignored because warmup_steps is ${config.warmup_steps}. Remove one of the two.` });
  }
  if (config.lr_scheduler_type === "constant" && (given.has("warmup_steps") || given.has("warmup_ratio")) && (config.warmup_steps > 0 || config.warmup_ratio > 0)) {
    out.warnings.push({ key: "lr_scheduler_type", message: "is constant, which has no warmup. Use constant_with_warmup to warm up." });
  }
};

const checkpoints: Rule = ({ config, given }, out) => {
  if (given.has("save_steps") && config.max_steps > 0 && config.save_steps > config.max_steps) {
    out.warnings.push({ key: "save_steps", message: `is ${config.save_steps} but max_steps is ${config.max_steps}, so no checkpoint is saved before the end. Lower save_steps, or set it to 0.` });
  }
  if (config.save_steps === 0 && given.has("save_total_limit")) {
    out.warnings.push({ key: "save_total_limit", message: "is ignored because save_steps is 0 (no checkpoints). Remove it, or set save_steps." });
  }
  if (given.has("logging_steps") && config.max_steps > 0 && config.logging_steps > config.max_steps) {
    out.warnings.push({ key: "logging_steps", message: `is ${config.logging_steps} but max_steps is ${config.max_steps}, so the loss is reported only at the end. Lower logging_steps.` });
  }
};

const pretrainIgnoresTurns: Rule = ({ config, given }, out) => {
  if (config.stage !== "pt") return;
  for (const key of ["train_on_prompt", "mask_history"]) {
    if (given.has(key)) out.warnings.push({ key, message: "is ignored with stage: pt (every token is trained). Remove it, or use stage: sft." });
  }
};

export const RULES: Rule[] = [onlyTraining, onePrecision, loraKeysNeedLora, stepsOrEpochs, warmup, checkpoints, pretrainIgnoresTurns];

export function checkRules(input: RuleInput): RuleResult {
  const out: RuleResult = { errors: [], warnings: [] };
  for (const rule of RULES) rule(input, out);
  return out;
}
