// Reads a dataset file (.json array, .jsonl, .txt) into raw records, each with the line it starts on.
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, relative, isAbsolute } from "node:path";
import { WhetError } from "../errors.ts";
import type { SourceLoc } from "./types.ts";

export interface RawRecord {
  value: unknown;
  loc: SourceLoc;
}

/** A path as shown in messages: relative to the current directory when inside it. */
export function displayPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r !== "" && !r.startsWith("..") && !isAbsolute(r) ? r : p;
}

/** Reads every record of a dataset file. Throws WhetError naming the file and line on bad input. */
export function readRecords(path: string): RawRecord[] {
  const file = displayPath(path);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new WhetError("FILE_NOT_FOUND", [
      { where: file, message: "does not exist. Check the path, or the file_name in dataset_info.json." },
    ]);
  }
  let text = readFileSync(path, "utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const ext = extname(path).toLowerCase();
  let records: RawRecord[];
  if (ext === ".txt") records = readTextLines(text, file);
  else if (ext === ".json" && text.trimStart().startsWith("[")) records = readJsonArray(text, file);
  else if (ext === ".json" || ext === ".jsonl") records = readJsonLines(text, file);
  else {
    throw new WhetError("DATASET_INVALID", [
      { where: file, message: `has the extension "${ext}", which is not supported. Use a .json array, .jsonl or .txt file.` },
    ]);
  }
  if (records.length === 0) {
    throw new WhetError("DATASET_EMPTY", [
      { where: file, message: "has no records. Add records or remove the dataset from `dataset`." },
    ]);
  }
  return records;
}

function readTextLines(text: string, file: string): RawRecord[] {
  const out: RawRecord[] = [];
  text.split("\n").forEach((line, i) => {
    const t = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (t.trim() !== "") out.push({ value: { text: t }, loc: { file, line: i + 1 } });
  });
  return out;
}

/** Strips V8's " in JSON at position N" (we give line and column instead). */
function jsonReason(e: unknown): { reason: string; pos?: number } {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /\s*in JSON at position (\d+).*$/.exec(msg);
  if (!m) return { reason: msg };
  return { reason: msg.slice(0, m.index), pos: Number(m[1]) };
}

function readJsonLines(text: string, file: string): RawRecord[] {
  const out: RawRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") continue;
    try {
      out.push({ value: JSON.parse(line), loc: { file, line: i + 1 } });
    } catch (e) {
      const { reason, pos } = jsonReason(e);
      const col = pos === undefined ? "" : ` at column ${pos + 1}`;
      throw new WhetError("DATASET_INVALID", [
        { where: `${file}:${i + 1}`, message: `is not valid JSON (${reason}${col}). Fix or remove the line.` },
      ]);
    }
  }
  return out;
}

function lineCol(text: string, pos: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: pos - start + 1 };
}

function readJsonArray(text: string, file: string): RawRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const { reason, pos } = jsonReason(e);
    const p = pos ?? text.length;
    const { line, col } = lineCol(text, p);
    throw new WhetError("DATASET_INVALID", [
      { where: `${file}:${line}`, message: `is not valid JSON at column ${col} (${reason}). Fix the syntax there.` },
    ]);
  }
  if (!Array.isArray(parsed)) {
    throw new WhetError("DATASET_INVALID", [{ where: file, message: "is not a JSON array of records. Use [ {...}, ... ] or JSON Lines." }]);
  }
  const lines = elementStartLines(text);
  return parsed.map((value, i) => ({ value, loc: { file, line: lines[i] ?? 1 } }));
}

/** The 1-based line on which each top-level element of a (valid) JSON array starts. */
export function elementStartLines(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char (never a newline in valid JSON)
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (depth === 1 && expectElement && c !== 93) {
      out.push(line);
      expectElement = false;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) expectElement = true;
  }
  return out;
}
