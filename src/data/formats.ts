// Turns raw records into samples: alpaca and sharegpt (incl. OpenAI messages) into conversations,
// and a text column into pretraining text. Problems name the file and the record's line.
import { WhetError, type Problem } from "../errors.ts";
import type { RawRecord } from "./read.ts";
import {
  at,
  OPENAI_TAGS,
  SHAREGPT_TAGS,
  type ChatSample,
  type Columns,
  type Formatting,
  type Message,
  type Role,
  type Sample,
  type Stage,
  type Tags,
  type TextSample,
} from "./types.ts";

export interface FormatOptions {
  formatting: Formatting;
  columns: Columns;
  /** Tags as given in dataset_info.json; missing ones default by the shape of the first message. */
  tags?: Partial<Tags>;
  stage: Stage;
  /** `{{name}}` in any text becomes placeholders.name. */
  placeholders?: Record<string, string>;
}

const MAX_PROBLEMS = 10;

class Problems {
  list: Problem[] = [];
  count = 0;
  add(where: string, message: string): void {
    this.count++;
    if (this.list.length < MAX_PROBLEMS) this.list.push({ where, message });
  }
  throwIfAny(): void {
    if (this.count === 0) return;
    const extra = this.count - this.list.length;
    const list = extra > 0 ? [...this.list, { message: `and ${extra} more problem(s) like these.` }] : this.list;
    throw new WhetError("DATASET_INVALID", list);
  }
}

/** Converts every record; throws one WhetError listing the first problems found. */
export function toSamples(records: RawRecord[], opts: FormatOptions): Sample[] {
  const problems = new Problems();
  const out: Sample[] = [];
  const tags = opts.formatting === "sharegpt" ? resolveTags(records, opts) : SHAREGPT_TAGS;
  for (const r of records) {
    const s =
      opts.stage === "pt"
        ? toText(r, opts.columns, problems)
        : opts.formatting === "alpaca"
          ? fromAlpaca(r, opts.columns, problems)
          : fromShareGpt(r, opts.columns, tags, problems);
    if (s) out.push(opts.placeholders ? fillPlaceholders(s, opts.placeholders) : s);
  }
  problems.throwIfAny();
  return out;
}

function resolveTags(records: RawRecord[], opts: FormatOptions): Tags {
  const given = opts.tags ?? {};
  let base = SHAREGPT_TAGS;
  if (given.role_tag === undefined) {
    const first = records[0]?.value as Record<string, unknown> | undefined;
    const msgs = first?.[opts.columns.messages ?? "conversations"];
    const m0 = Array.isArray(msgs) ? (msgs[0] as Record<string, unknown> | undefined) : undefined;
    if (m0 && typeof m0 === "object" && "role" in m0 && !("from" in m0)) base = OPENAI_TAGS;
  }
  return { ...base, ...stripUndefined(given) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** OpenAI content may be a list of parts; keep the text parts. */
function textOf(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((p) => isObject(p) && typeof p.text === "string")) {
    return v.map((p) => (p as { text: string }).text).join("");
  }
  return undefined;
}

function toText(r: RawRecord, columns: Columns, problems: Problems): TextSample | undefined {
  const col = columns.prompt ?? "text";
  if (!isObject(r.value)) return void problems.add(at(r.loc), "is not a JSON object. Each record must be an object like {\"text\": \"...\"}.");
  const t = r.value[col];
  if (typeof t !== "string") {
    const what = t === undefined ? `has no "${col}" column` : `has a "${col}" column that is not a string`;
    return void problems.add(at(r.loc), `${what}. Pretraining (stage pt) reads plain text from "${col}"; set columns.prompt to the text column.`);
  }
  return { kind: "text", text: t, loc: r.loc };
}

function fromAlpaca(r: RawRecord, columns: Columns, problems: Problems): ChatSample | undefined {
  const where = at(r.loc);
  if (!isObject(r.value)) return void problems.add(where, "is not a JSON object. Each alpaca record must be an object with instruction and output.");
  const v = r.value;
  const pCol = columns.prompt ?? "instruction";
  const qCol = columns.query ?? "input";
  const rCol = columns.response ?? "output";
  const prompt = v[pCol];
  if (typeof prompt !== "string") {
    return void problems.add(where, `has no "${pCol}" column (or it is not a string). Add it, or map the column with columns.prompt in dataset_info.json.`);
  }
  const query = v[qCol];
  if (query !== undefined && query !== null && typeof query !== "string") {
    return void problems.add(where, `has a "${qCol}" column that is not a string. Make it a string or remove it.`);
  }
  const resp = Array.isArray(v[rCol]) && (v[rCol] as unknown[]).length === 1 ? (v[rCol] as unknown[])[0] : v[rCol];
  if (typeof resp !== "string") {
    return void problems.add(where, `has no assistant turn ("${rCol}" is missing or not a string). Add the response or remove the record.`);
  }
  const messages: Message[] = [];
  const sysCol = columns.system ?? "system";
  const sys = v[sysCol];
  if (typeof sys === "string" && sys !== "") messages.push({ role: "system", content: sys });
  const hist = v[columns.history ?? "history"];
  if (hist !== undefined && hist !== null) {
    const ok = Array.isArray(hist) && hist.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && typeof h[1] === "string");
    if (!ok) return void problems.add(where, `has a "${columns.history ?? "history"}" column that is not a list of [question, answer] string pairs. Fix it or remove it.`);
    for (const [q, a] of hist as [string, string][]) messages.push({ role: "user", content: q }, { role: "assistant", content: a });
  }
  const user = typeof query === "string" && query !== "" ? `${prompt}\n${query}` : prompt;
  messages.push({ role: "user", content: user }, { role: "assistant", content: resp });
  const tools = v[columns.tools ?? "tools"];
  return { kind: "chat", messages, ...(typeof tools === "string" && tools !== "" ? { tools } : {}), loc: r.loc };
}

function fromShareGpt(r: RawRecord, columns: Columns, tags: Tags, problems: Problems): ChatSample | undefined {
  const where = at(r.loc);
  if (!isObject(r.value)) return void problems.add(where, "is not a JSON object. Each sharegpt record must be an object with a list of messages.");
  const mCol = columns.messages ?? "conversations";
  const raw = r.value[mCol];
  if (!Array.isArray(raw)) {
    return void problems.add(where, `has no "${mCol}" list. Add it, or map the column with columns.messages in dataset_info.json.`);
  }
  const roleOf: Record<string, Role> = {
    [tags.user_tag]: "user",
    [tags.assistant_tag]: "assistant",
    [tags.observation_tag]: "observation",
    [tags.function_tag]: "function",
    [tags.system_tag]: "system",
  };
  const messages: Message[] = [];
  const sys = r.value[columns.system ?? "system"];
  if (typeof sys === "string" && sys !== "") messages.push({ role: "system", content: sys });
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    const n = i + 1;
    if (!isObject(m)) return void problems.add(where, `message ${n} is not an object. Use {"${tags.role_tag}": ..., "${tags.content_tag}": ...}.`);
    const tag = m[tags.role_tag];
    const role = typeof tag === "string" ? roleOf[tag] : undefined;
    if (role === undefined) {
      const known = Object.keys(roleOf).join(", ");
      return void problems.add(where, `message ${n} has the role ${JSON.stringify(tag ?? null)} (key "${tags.role_tag}"), which is not known. Use one of ${known}, or set tags in dataset_info.json.`);
    }
    const content = textOf(m[tags.content_tag]);
    if (content === undefined) return void problems.add(where, `message ${n} has no text in "${tags.content_tag}". Add the text or remove the message.`);
    if (role === "system") {
      if (i !== 0 || messages.length > 0) return void problems.add(where, `message ${n} is a system message that is not first. Move it to the start or remove it.`);
      messages.push({ role, content });
      continue;
    }
    const turn = messages.filter((x) => x.role !== "system").length;
    const wantUser = turn % 2 === 0;
    const isUser = role === "user" || role === "observation";
    if (wantUser !== isUser) {
      const prev = messages[messages.length - 1];
      const after = prev && prev.role !== "system" ? `after a ${prev.role} turn` : "at the start";
      return void problems.add(where, `message ${n} is a ${role} turn ${after}. Turns must alternate user (or observation) and assistant (or function); merge or remove the extra turn.`);
    }
    messages.push({ role, content });
  }
  const last = messages[messages.length - 1];
  if (!messages.some((m) => m.role === "assistant" || m.role === "function")) {
    return void problems.add(where, "has no assistant turn. Add an assistant message or remove the record.");
  }
  if (last && (last.role === "user" || last.role === "observation")) {
    return void problems.add(where, `ends with a ${last.role} turn that has no answer. Add the assistant answer or remove the last turn.`);
  }
  const tools = r.value[columns.tools ?? "tools"];
  return { kind: "chat", messages, ...(typeof tools === "string" && tools !== "" ? { tools } : {}), loc: r.loc };
}

export function fillPlaceholders<S extends Sample>(s: S, values: Record<string, string>): S {
  const re = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
  const fill = (t: string) => t.replace(re, (m, k: string) => values[k] ?? m);
  if (s.kind === "text") return { ...s, text: fill(s.text) };
  return { ...s, messages: s.messages.map((m) => ({ ...m, content: fill(m.content) })) };
}
