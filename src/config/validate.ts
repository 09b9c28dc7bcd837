// Pure validation of a parsed config mapping: sort keys into whetstone's own, LLaMA-Factory's
// accepted ones and unknown ones; normalize; check with the schema; fill stage-dependent
// defaults; run the cross-field rules. Problems carry keys; load.ts turns keys into file:line.
import { RunConfigSchema, type RunConfig } from "./schema.ts";
import { IGNORED, UNSUPPORTED, REFUSED, REFUSED_VALUES, isOff } from "./compat-keys.ts";
import { issueProblem, type KeyProblem } from "./issues.ts";
import { closest } from "./suggest.ts";
import { propertyOf } from "./json-schema.ts";
import { checkRules } from "./rules.ts";

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

  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue; // `key:` or `key: null` means "the default"
    given.add(key);
    if (OWN.includes(key)) {
      own[key] = coerceNumber(key, value);
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
  return errors.length ? { errors, warnings, given } : { config, errors, warnings, given };
}
