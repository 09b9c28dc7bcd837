// The server's JSON API. Errors arrive as {error: {code, message, details}} and are thrown as
// ApiError so pages can show the message (never a stack: the server sends none).
import type { WhetEvent } from "../../src/events/schema.ts";
import type { RunSummary } from "../../src/runs/store.ts";
import type { GpuRecord } from "../../src/gpu-sampler/samples.ts";

export type { WhetEvent, RunSummary, GpuRecord };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: any,
  ) {
    super(message);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const e = json?.error;
    throw new ApiError(res.status, e?.code ?? "HTTP", e?.message ?? `${res.status} ${res.statusText}`, e?.details);
  }
  return json as T;
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body: unknown = {}) => request<T>("POST", path, body);

export interface Problem {
  where?: string;
  message: string;
  key: string | null;
}

export interface RunDetail {
  summary: RunSummary;
  spec: any;
  plan: any;
  config_text: string | null;
  checkpoints: { step: number; name: string }[];
  logs: string[];
  launch: { whet: string; torchrun: string | null };
  process: { pid: number; stop_requested: number | null } | null;
}

export interface EventsFile {
  events: WhetEvent[];
  skipped: { line: number; reason: string }[];
  truncated: boolean;
}

/** GET /api/runs/<id>/gpu?from=N: samples after byte offset N, and where to ask from next. */
export interface GpuFile {
  samples: GpuRecord[];
  next: number;
  skipped: number;
  reset: boolean;
}

export const runPath = (id: string) => `/api/runs/${encodeURIComponent(id)}`;
