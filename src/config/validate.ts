// Pure validation of a parsed config mapping: sort keys into whetstone's own, LLaMA-Factory's
// accepted ones and unknown ones; normalize; check with the schema; fill stage-dependent
// defaults; run the cross-field rules. Problems carry keys; load.ts turns keys into file:line.
import { RunConfigSchema, type RunConfig } from "./schema.ts";
import { IGNORED, UNSUPPORTED, REFUSED, REFUSED_VALUES, isOff } from "./compat-keys.ts";
import { issueProblem, type KeyProblem } from "./issues.ts";
import { closest } from "./suggest.ts";
import { propertyOf } from "./json-schema.ts";
import { checkRules } from "./rules.ts";
import { recogniseConfig } from "../compat/config-kind.ts";

export interface Validated {
  /** Present when there are no errors. */
  config?: RunConfig;
  errors: KeyProblem[];
  warnings: KeyProblem[];
  /** Keys the user wrote with a non-null value. */
  given: Set<string>;
}

const OWN = Object.keys(RunConfigSchema.shape);
export const KNOWN_KEYS: readonly string[] = [...OWN, ...Object.keys(IGNORED), ...Object.keys(UNSUPPORTED), ...Object.keys(REFUSED)];

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** YAML 1.1 readers (PyYAML) see 1e-4 as text; numeric text is accepted where a number is expected. */
function coerceNumber(key: string, value: unknown): unknown {
  if (typeof value !== "string" || !NUMERIC.test(value.trim())) return value;
  const p = propertyOf(key);
  const types = p?.anyOf ? p.anyOf.map((b) => b.type) : [p?.type];
  return types.includes("number") || types.includes("integer") ? Number(value) : value;
}

export function validateConfig(raw: Record<string, unknown>): Validated {
  const errors: KeyProblem[] = [];
  const warnings: KeyProblem[] = [];
  const own: Record<string, unknown> = {};
  const given = new Set<string>();

  // A DeepSpeed JSON, an accelerate config, a merge or an inference config passed as the training
  // config: one message saying what the file is beats a list of its keys as unknown.
  const kind = recogniseConfig(raw);
  if (kind.kind !== "train" && kind.kind !== "preprocess") {
    return { errors: [{ key: kind.key ?? "", message: kind.message }], warnings, given: new Set(Object.keys(raw)) };
  }

  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue; // `key:` or `key: null` means "the default"
    given.add(key);
    if (OWN.includes(key)) {
      // One dataset's interleave_probs is a lone number in YAML; LLaMA-Factory reads it as text.
      own[key] = key === "interleave_probs" && typeof value === "number" ? String(value) : coerceNumber(key, value);
      const refusal = typeof value === "string" ? REFUSED_VALUES[key]?.[value] : undefined;
      if (refusal) errors.push({ key, message: `is ${value}, which is not supported: ${refusal}.` });
    } else if (key in IGNORED) {
      continue;
    } else if (key in UNSUPPORTED) {
      const entry = UNSUPPORTED[key]!;
      if (!isOff(entry, value)) warnings.push({ key, message: `is not supported yet; ${entry.text}. Remove the key to silence this.` });
    } else if (key in REFUSED) {
      const entry = REFUSED[key]!;
      if (!isOff(entry, value)) errors.push({ key, message: `${entry.text}.` });
    } else {
      const near = closest(key, KNOWN_KEYS);
      errors.push({ key, unknown: true, message: `is not a known key. ${near ? `Did you mean ${near}?` : "Run 'whet train --help' for the list of keys."}` });
    }
  }

  if (typeof own.disable_gradient_checkpointing === "boolean") {
    const wanted = !own.disable_gradient_checkpointing;
    if (typeof own.gradient_checkpointing === "boolean" && own.gradient_checkpointing !== wanted) {
      errors.push({ key: "disable_gradient_checkpointing", message: "contradicts gradient_checkpointing. Keep only gradient_checkpointing." });
    }
    own.gradient_checkpointing = wanted;
  }

  // Schema problems first; the rules then run on the keys that passed (a bad key falls back to its
  // default there), so one pass reports everything that is wrong.
  const refusedKeys = new Set(errors.map((e) => e.key));
  const parsed = RunConfigSchema.safeParse(own);
  const failed = new Set<string>();
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      failed.add(String(issue.path[0]));
      const p = issueProblem(issue, own);
      if (!refusedKeys.has(p.key)) errors.push(p);
    }
  }
  const usable = parsed.success ? parsed : RunConfigSchema.safeParse(Object.fromEntries(Object.entries(own).filter(([k]) => !failed.has(k))));
  if (!usable.success) return { errors, warnings, given };
  const { disable_gradient_checkpointing: _, ...rest } = usable.data;
  const config: RunConfig = {
    ...rest,
    packing: rest.packing ?? rest.stage === "pt",
    lora_alpha: rest.lora_alpha ?? 2 * rest.lora_rank,
  };
  const ruled = checkRules({ config, given });
  errors.push(...ruled.errors);
  warnings.push(...ruled.warnings);
  errors.push(...datasetMixProblems(config));
  return errors.length ? { errors, warnings, given } : { config, errors, warnings, given };
}

/** interleave_probs as numbers: "0.7,0.3" as LLaMA-Factory writes it. */
export function interleaveProbs(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(",").map((p) => (p.trim() === "" ? NaN : Number(p.trim())));
}

/** mix_strategy, interleave_probs and val_size against the dataset list, as LLaMA-Factory checks them. */
function datasetMixProblems(c: RunConfig): KeyProblem[] {
  const out: KeyProblem[] = [];
  const n = c.dataset.split(",").filter((s) => s.trim()).length;
  const probs = interleaveProbs(c.interleave_probs);
  if (probs && probs.some((p) => !Number.isFinite(p) || p < 0)) {
    out.push({ key: "interleave_probs", message: `is ${JSON.stringify(c.interleave_probs)}. Write one probability (a number, 0 or more) per dataset, comma separated, like 0.7,0.3.` });
  } else if (probs && c.mix_strategy === "concat") {
    out.push({ key: "interleave_probs", message: "is only used when mixing by interleaving. Set mix_strategy: interleave_under (or interleave_over), or remove interleave_probs." });
  } else if (probs && probs.length !== n) {
    out.push({ key: "interleave_probs", message: `has ${probs.length} value(s) for ${n} dataset(s). Give one probability per dataset in dataset, comma separated.` });
  } else if (probs && probs.every((p) => p === 0)) {
    out.push({ key: "interleave_probs", message: "are all 0, so no dataset would be drawn. Give at least one a positive value." });
  }
  if (c.val_size >= 1 && !Number.isInteger(c.val_size)) {
    out.push({ key: "val_size", message: `is ${c.val_size}. Use a fraction below 1 (0.1 holds out 10%) or a whole number of samples (100).` });
  }
  return out;
}
