// Serves the built web app (web/dist). Only files inside it, never a dotfile; anything else that
// is not an API route gets index.html (the app routes by URL hash).
import { existsSync, readFileSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

export function webBuilt(distDir: string): boolean {
  return existsSync(join(distDir, "index.html"));
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>whet ui: not built</title>
<body style="font:16px system-ui;margin:3em;max-width:40em">
<h1>The dashboard is not built</h1>
<p>Build it once with <code>npm run build:web</code> (the setup script does this), then reload.
The API under <code>/api/</code> works without it.</p>`;

export function serveStatic(res: ServerResponse, distDir: string, segments: string[]): void {
  const headers = { "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP, "X-Frame-Options": "DENY" };
  if (!webBuilt(distDir)) {
    res.writeHead(503, { ...headers, "Content-Type": "text/html; charset=utf-8" });
    res.end(NOT_BUILT);
    return;
  }
  const root = resolve(distDir);
  let file = join(root, "index.html");
  const safe = segments.every((s) => s !== "" && !s.startsWith(".") && !s.includes("/") && !s.includes("\\") && !s.includes("\0"));
  if (safe && segments.length > 0) {
    const candidate = resolve(root, ...segments);
    if (candidate.startsWith(root + sep) && existsSync(candidate) && statSync(candidate).isFile()) file = candidate;
  }
  const immutable = file.includes(`${sep}assets${sep}`);
  res.writeHead(200, {
    ...headers,
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
  });
  res.end(readFileSync(file));
}
