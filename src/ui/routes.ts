// Every API route in one table: method, path pattern, handler. A handler's return value is sent
// as JSON; STREAMING means it answered by itself (server-sent events).
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, readJson } from "./http.ts";
import { listRuns } from "../runs/store.ts";
import { compareRuns, runDetail, runDir, runEvents, runGpu, runLog, summaryOf } from "./runs-api.ts";
import { streamRun } from "./sse.ts";
import { checkDraft, launchDraft, requireValid, schemaJson, template, validateResponse } from "./config-api.ts";
import { inspectSample } from "./inspect.ts";
import { predictMemory } from "./predict.ts";
import type { Launcher } from "./launcher.ts";

export const STREAMING = Symbol("streaming");

export interface AppContext {
  runsDir: string;
  /** Relative paths in drafted configs are resolved against this folder. */
  baseDir: string;
  launcher: Launcher;
}

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  app: AppContext;
}

type Handler = (c: RouteContext) => unknown;

const body = (c: RouteContext) => readJson(c.req);
const id = (c: RouteContext) => c.params.id!;

export const ROUTES: [string, string, Handler][] = [
  ["GET", "/api/health", () => ({ ok: true })],
  ["GET", "/api/runs", (c) => ({ runs: listRuns(c.app.runsDir) })],
  ["POST", "/api/runs", async (c) => {
    const b = await body(c);
    return launchDraft(checkDraft(b, c.app.baseDir), c.app.launcher, b.name);
  }],
  ["GET", "/api/runs/:id", (c) => runDetail(c.app.runsDir, id(c))],
  ["GET", "/api/runs/:id/summary", (c) => summaryOf(c.app.runsDir, id(c))],
  ["GET", "/api/runs/:id/events", (c) => runEvents(c.app.runsDir, id(c))],
  ["GET", "/api/runs/:id/gpu", (c) => runGpu(c.app.runsDir, id(c), c.query)],
  ["GET", "/api/runs/:id/stream", (c) => {
    streamRun(c.req, c.res, { runsDir: c.app.runsDir, id: id(c), dir: runDir(c.app.runsDir, id(c)) });
    return STREAMING;
  }],
  ["GET", "/api/runs/:id/logs/:name", (c) => runLog(c.app.runsDir, id(c), c.params.name!)],
  ["POST", "/api/runs/:id/stop", async (c) => {
    await body(c);
    runDir(c.app.runsDir, id(c));
    return { process: c.app.launcher.stop(id(c)) };
  }],
  ["POST", "/api/runs/:id/resume", async (c) => {
    await body(c);
    runDir(c.app.runsDir, id(c));
    return { process: c.app.launcher.resume(id(c)) };
  }],
  ["GET", "/api/compare", (c) => compareRuns(c.app.runsDir, c.query.get("ids"))],
  ["GET", "/api/config/schema", () => schemaJson()],
  ["GET", "/api/config/template", () => template()],
  ["POST", "/api/config/validate", async (c) => validateResponse(checkDraft(await body(c), c.app.baseDir))],
  ["POST", "/api/config/inspect", async (c) => {
    const b = await body(c);
    const index = typeof b.index === "number" && Number.isInteger(b.index) && b.index >= 0 ? b.index : 0;
    return inspectSample(requireValid(checkDraft(b, c.app.baseDir)), index);
  }],
  ["POST", "/api/config/plan", async (c) => predictMemory(requireValid(checkDraft(await body(c), c.app.baseDir)))],
];

/** Path segments of a request target, decoded; a dot segment or an encoded separator is a 400. */
export function pathSegments(target: string): string[] {
  const path = target.split(/[?#]/)[0] ?? "/";
  return path
    .split("/")
    .filter((s) => s !== "")
    .map((raw) => {
      let s: string;
      try {
        s = decodeURIComponent(raw);
      } catch {
        throw new ApiError(400, "BAD_PATH", "the URL path is not valid percent-encoding.");
      }
      if (s === "." || s === ".." || /[\/\\\0]/.test(s)) throw new ApiError(400, "BAD_PATH", "the URL path may not contain '.', '..' or encoded separators.");
      return s;
    });
}

export function matchRoute(method: string, segments: string[]): { handler: Handler; params: Record<string, string> } | "wrong-method" | undefined {
  let wrongMethod = false;
  for (const [m, pattern, handler] of ROUTES) {
    const parts = pattern.split("/").filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const ok = parts.every((p, i) => (p.startsWith(":") ? ((params[p.slice(1)] = segments[i]!), true) : p === segments[i]));
    if (!ok) continue;
    if (m === method) return { handler, params };
    wrongMethod = true;
  }
  return wrongMethod ? "wrong-method" : undefined;
}
