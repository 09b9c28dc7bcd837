// Config differences between runs (pure): the resolved specs flattened to dotted keys, keeping
// only the keys whose values differ. Paths that name the run itself always differ and are left out.

const OWN_PATHS = new Set(["run_id", "run_dir", "events_path", "checkpoint.dir", "export.dir", "checkpoint.resume_from"]);

export function flatten(value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = JSON.stringify(value ?? null);
  }
  return out;
}

export interface DiffRow {
  key: string;
  /** One per run, in order; null where the run lacks the key. */
  values: (string | null)[];
}

export function configDiff(specs: unknown[]): DiffRow[] {
  const flat = specs.map((s) => flatten(s));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].filter((k) => !OWN_PATHS.has(k)).sort();
  return keys
    .map((key) => ({ key, values: flat.map((f) => f[key] ?? null) }))
    .filter((row) => new Set(row.values).size > 1);
}
