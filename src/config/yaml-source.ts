// Parses the config text into a plain mapping and remembers the line of every top-level key,
// so each problem can point at `file:line key`.
import { parseDocument, LineCounter, isMap, isScalar } from "yaml";
import { WhetError } from "../errors.ts";

export interface YamlConfig {
  data: Record<string, unknown>;
  /** Top-level key -> 1-based line. */
  lines: Map<string, number>;
}

export function parseYamlConfig(text: string, file: string): YamlConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  if (doc.errors.length > 0) {
    // One error per line: the parser's follow-on errors on the same line only repeat the first.
    const byLine = new Map<number, string>();
    for (const e of doc.errors) if (!byLine.has(lineOf(e.pos[0]))) byLine.set(lineOf(e.pos[0]), reason(e.message));
    throw new WhetError(
      "CONFIG_PARSE",
      [...byLine].map(([line, why]) => ({ where: `${file}:${line}`, message: `is not valid YAML (${why}). Fix the indentation or quoting.` })),
    );
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) return { data: {}, lines: new Map() };
  if (!isMap(root)) {
    const what = Array.isArray(doc.toJS()) ? "a list" : "a single value";
    throw new WhetError("CONFIG_PARSE", [
      { where: `${file}:${lineOf(root.range?.[0] ?? 0)}`, message: `is ${what}, not a mapping of keys to values. Write one key: value per line, like learning_rate: 1.0e-4.` },
    ]);
  }
  const lines = new Map<string, number>();
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const start = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
    if (start !== undefined) lines.set(key, lineOf(start));
  }
  return { data: doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>, lines };
}

function reason(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").replace(/\.$/, "");
}
