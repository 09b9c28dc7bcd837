// Shared by the dashboard's tests: a copy of the recorded run directories, a server on a free
// loopback port whose `whet` is the fake in this folder, and a small JSON client.
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { startUiServer, type UiServer, type UiServerOptions } from "../server.ts";
import { Launcher } from "../launcher.ts";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const FIXTURE_RUNS = join(REPO, "tests", "fixtures", "runs");
export const FAKE_WHET = fileURLToPath(new URL("./fake-whet.mjs", import.meta.url));

export const DONE = "20250101-100000-lora-sft";
export const FAILED = "20250102-090000-full-sft";
export const TRUNCATED = "20250103-120000-truncated";
export const STOPPED = "20250104-080000-stopped";

/** A writable copy of tests/fixtures/runs. */
export function fixtureRuns(): string {
  const dir = mkdtempSync(join(tmpdir(), "whet-ui-runs-"));
  cpSync(FIXTURE_RUNS, dir, { recursive: true });
  return dir;
}

export function fakeLauncher(runsDir: string, env: Record<string, string> = {}): Launcher {
  return new Launcher({ runsDir, whet: [process.execPath, FAKE_WHET], env: { ...process.env, ...env } });
}

export async function testServer(over: Partial<UiServerOptions> = {}): Promise<UiServer & { runsDir: string }> {
  const runsDir = over.runsDir ?? fixtureRuns();
  const s = await startUiServer({
    runsDir,
    host: "127.0.0.1",
    port: 0,
    token: null,
    webDist: join(runsDir, "no-web-dist"),
    launcher: fakeLauncher(runsDir),
    ...over,
  });
  return { ...s, runsDir };
}

export interface Reply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

export async function call(base: string, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Reply> {
  const { json, ...rest } = init;
  const res = await fetch(base.replace(/\/$/, "") + path, {
    ...rest,
    ...(json !== undefined ? { method: rest.method ?? "POST", body: JSON.stringify(json), headers: { "Content-Type": "application/json", ...(rest.headers ?? {}) } } : {}),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json: parsed, text, headers: res.headers };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A request whose path is sent exactly as written (fetch would normalise dot segments away). */
export function rawRequest(base: string, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        resolve({ status: res.statusCode ?? 0, json, text, headers: h });
      });
    });
    req.on("error", reject);
    req.end();
  });
}
