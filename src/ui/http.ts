// Small HTTP helpers. Every error the browser sees is JSON {error: {code, message}}; a stack
// trace never leaves the server.
import type { IncomingMessage, ServerResponse } from "node:http";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e instanceof ApiError) {
    sendJson(res, e.status, { error: { code: e.code, message: e.message, ...(e.details !== undefined ? { details: e.details } : {}) } });
    return;
  }
  // Unknown: logged here with its stack, reported to the browser without it.
  process.stderr.write(`whet ui: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  sendJson(res, 500, { error: { code: "INTERNAL", message: "internal error in the whet ui server; its terminal has the details." } });
}

const MAX_BODY = 1 << 20;

/** Reads a JSON request body (at most 1 MiB). POST bodies must say application/json. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
    throw new ApiError(415, "BAD_CONTENT_TYPE", "send the request body as application/json.");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, "BODY_TOO_LARGE", "the request body is over 1 MiB.");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // falls through
  }
  throw new ApiError(400, "BAD_JSON", "the request body is not a JSON object.");
}
