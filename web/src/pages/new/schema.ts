// Reads the config's JSON Schema (schema/config.schema.json) into form fields.
export interface Prop {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Prop[];
  default?: unknown;
  examples?: unknown[];
  description?: string;
  deprecated?: boolean;
}

export type Kind = "boolean" | "number" | "integer" | "enum" | "string" | "json" | "mixed";

export interface FieldDef {
  key: string;
  kind: Kind;
  options: string[];
  description: string;
  default: unknown;
  required: boolean;
}

function kindOf(p: Prop): { kind: Kind; options: string[] } {
  if (p.enum) return { kind: "enum", options: p.enum.map(String) };
  if (p.type === "boolean" || p.type === "number" || p.type === "integer" || p.type === "string") return { kind: p.type, options: [] };
  if (p.type === "object" || p.type === "array") return { kind: "json", options: [] };
  return { kind: "mixed", options: [] };
}

/** Whetstone's own keys; LLaMA-Factory keys it only accepts (or ignores) are left off the form. */
export function fieldsOf(schema: { properties?: Record<string, Prop>; required?: string[] }): FieldDef[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {})
    .filter(([, p]) => !p.deprecated && !/^LLaMA-Factory key, accepted and ignored/.test(p.description ?? ""))
    .map(([key, p]) => ({ key, ...kindOf(p), description: p.description ?? "", default: p.default, required: required.has(key) }));
}

/** A form value typed as its field says; text that does not parse is sent as written (the server explains). */
export function parseValue(kind: Kind, text: string): unknown {
  const t = text.trim();
  if (t === "") return undefined;
  if (kind === "number" || kind === "integer") return Number.isFinite(Number(t)) ? Number(t) : t;
  if (kind === "json") {
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  }
  if (kind === "mixed") {
    if (t === "true" || t === "false") return t === "true";
    return Number.isFinite(Number(t)) ? Number(t) : t;
  }
  return text;
}

export function showValue(kind: Kind, v: unknown): string {
  if (v === undefined || v === null) return "";
  return kind === "json" ? JSON.stringify(v) : String(v);
}
