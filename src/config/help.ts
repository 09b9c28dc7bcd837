// The key reference, generated from the schema so it cannot drift: `whet train --help` prints
// configKeyHelp(); docs can embed configKeyMarkdown().
import { SECTIONS } from "./schema.ts";
import { configJsonSchema, type JsonProperty } from "./json-schema.ts";
import { IGNORED, UNSUPPORTED, REFUSED } from "./compat-keys.ts";
import { formatNumber } from "./issues.ts";

export interface KeyDoc {
  section: string;
  key: string;
  type: string;
  /** The default as text; "required" or "-" (unset) when there is none. */
  default: string;
  description: string;
}

function typeName(p: JsonProperty): string {
  if (p.anyOf) return p.anyOf.map(typeName).join("|");
  if (p.const !== undefined) return String(p.const);
  if (p.enum) return p.enum.join("|");
  return ({ integer: "int", number: "float", boolean: "bool", string: "text", object: "map" } as Record<string, string>)[p.type ?? ""] ?? "any";
}

function defaultText(v: unknown): string {
  return typeof v === "number" ? formatNumber(v) : String(v);
}

export function configKeys(): KeyDoc[] {
  const schema = configJsonSchema();
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(SECTIONS).flatMap(([section, shape]) =>
    Object.keys(shape).map((key) => {
      const p = schema.properties[key] ?? {};
      const def = p.default !== undefined ? defaultText(p.default) : required.has(key) ? "required" : "-";
      return { section, key, type: typeName(p), default: def, description: p.description ?? "" };
    }),
  );
}

function wrapList(title: string, keys: string[]): string {
  const lines: string[] = [];
  let line = `  ${title}:`;
  for (const k of keys) {
    if (line.length + k.length + 2 > 100) [lines[lines.length], line] = [line + ",", "   "];
    line += (line.endsWith(":") || line === "   " ? " " : ", ") + k;
  }
  return [...lines, line].join("\n");
}

export function configKeyHelp(): string {
  const keys = configKeys();
  const keyW = Math.max(...keys.map((k) => k.key.length));
  const typeW = Math.min(14, Math.max(...keys.map((k) => k.type.length))); // long enums overflow their own line
  const defW = Math.max(...keys.map((k) => k.default.length));
  const out: string[] = [];
  for (const section of Object.keys(SECTIONS)) {
    out.push(`  ${section}`);
    for (const k of keys.filter((k) => k.section === section)) {
      out.push(`    ${k.key.padEnd(keyW)}  ${k.type.padEnd(typeW)}  ${k.default.padEnd(defW)}  ${k.description}`);
    }
  }
  out.push("", "Other LLaMA-Factory keys:");
  out.push(wrapList("accepted and ignored", Object.keys(IGNORED)));
  out.push(wrapList("accepted with a warning (not supported yet)", Object.keys(UNSUPPORTED)));
  out.push(wrapList("refused unless off", Object.keys(REFUSED)));
  return out.join("\n") + "\n";
}

export function configKeyMarkdown(): string {
  const rows = configKeys().map((k) => `| ${k.section} | \`${k.key}\` | ${k.type.replaceAll("|", "\\|")} | ${k.default} | ${k.description.replaceAll("|", "\\|")} |`);
  return ["| group | key | type | default | description |", "| --- | --- | --- | --- | --- |", ...rows].join("\n") + "\n";
}
