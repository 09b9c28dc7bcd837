// Shared shapes of the data pipeline: where a record came from, conversations, stages.

export type Stage = "sft" | "pt";

export type Role = "system" | "user" | "assistant" | "observation" | "function";

export interface Message {
  role: Role;
  content: string;
}

/** Where a record starts: the file and its 1-based line. */
export interface SourceLoc {
  file: string;
  line: number;
}

export function at(loc: SourceLoc): string {
  return `${loc.file}:${loc.line}`;
}

/** A chat sample: the conversation (system first if any), optional tool definitions. */
export interface ChatSample {
  kind: "chat";
  messages: Message[];
  tools?: string;
  loc: SourceLoc;
}

/** A pretraining sample: plain text. */
export interface TextSample {
  kind: "text";
  text: string;
  loc: SourceLoc;
}

export type Sample = ChatSample | TextSample;

/** A tokenized document: ids and a 0/1 loss mask of the same length. */
export interface Doc {
  ids: number[];
  mask: number[];
}

/** Column names as in LLaMA-Factory's dataset_info.json. */
export interface Columns {
  prompt?: string;
  query?: string;
  response?: string;
  history?: string;
  messages?: string;
  system?: string;
  tools?: string;
}

/** Role tags of sharegpt data. */
export interface Tags {
  role_tag: string;
  content_tag: string;
  user_tag: string;
  assistant_tag: string;
  observation_tag: string;
  function_tag: string;
  system_tag: string;
}

export type Formatting = "alpaca" | "sharegpt";

/** One dataset, fully resolved: a local file and how to read it. */
export interface DatasetSpec {
  /** The name in `dataset:` (a registered name or a file path). */
  name: string;
  /** Absolute path of the local file. */
  file: string;
  /** "auto": decided from the first record (direct file paths). */
  formatting: Formatting | "auto";
  columns: Columns;
  /** Tags given in dataset_info.json; the rest default by the data's shape. */
  tags: Partial<Tags>;
}

export const SHAREGPT_TAGS: Tags = {
  role_tag: "from",
  content_tag: "value",
  user_tag: "human",
  assistant_tag: "gpt",
  observation_tag: "observation",
  function_tag: "function_call",
  system_tag: "system",
};

export const OPENAI_TAGS: Tags = {
  role_tag: "role",
  content_tag: "content",
  user_tag: "user",
  assistant_tag: "assistant",
  observation_tag: "tool",
  function_tag: "function_call",
  system_tag: "system",
};
