// Errors are data first and rendered in one place (src/cli/main.ts).
// A WhetError is a known user-facing problem: it prints briefly, never with a stack.
// Anything else reaching the top level is a bug and prints a stack plus a bug-report hint.

export type ErrorCode =
  | "CONFIG_PARSE"
  | "CONFIG_INVALID"
  | "CONFIG_UNKNOWN_KEY"
  | "FILE_NOT_FOUND"
  | "DATASET_INVALID"
  | "DATASET_EMPTY"
  | "TEMPLATE_INVALID"
  | "TOKENIZER_INVALID"
  | "MODEL_INVALID"
  | "USAGE"
  | "WORKER_FAILED"
  | "RUN_NOT_FOUND"
  | "PYTHON_MISSING"
  | "INTERRUPTED"
  | "PLAN_NO_FIT";

export interface Problem {
  /** Where: `file:line key` or `file:line` or a field path. */
  where?: string;
  /** What is wrong, then how to fix it: "is not a number. Use an integer like 8." */
  message: string;
}

export class WhetError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  /** Exit code the CLI uses for this error. */
  readonly exitCode: number;

  constructor(code: ErrorCode, problems: Problem[] | string, exitCode = 2) {
    const list = typeof problems === "string" ? [{ message: problems }] : problems;
    super(list.map(renderProblem).join("\n"));
    this.name = "WhetError";
    this.code = code;
    this.problems = list;
    this.exitCode = exitCode;
  }
}

export function renderProblem(p: Problem): string {
  return p.where ? `${p.where}: ${p.message}` : p.message;
}

export function isWhetError(e: unknown): e is WhetError {
  return e instanceof WhetError;
}
