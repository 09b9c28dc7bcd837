// Who may talk to the server. On loopback no token is needed, but the Host header must name the
// loopback (so a web page cannot reach it through DNS rebinding) and a cross-site Origin is
// refused. Bound anywhere else, every request needs the token the command printed: as
// `Authorization: Bearer T`, or `?token=T` once, which sets a same-site cookie for the rest.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ApiError } from "./http.ts";

export const COOKIE = "whet_token";

export function newToken(): string {
  return randomBytes(24).toString("base64url");
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function hostnameOf(hostHeader: string): string {
  return hostHeader.startsWith("[") ? hostHeader.slice(0, hostHeader.indexOf("]") + 1) : hostHeader.replace(/:\d+$/, "");
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) return v.join("=");
  }
  return undefined;
}

/** Throws 401/403 for a request that may not proceed; returns true when ?token= was used. */
export function authorize(req: IncomingMessage, url: URL, token: string | null): boolean {
  const host = req.headers.host ?? "";
  const origin = req.headers.origin;
  if (origin && origin !== "null") {
    let originHost = "";
    try {
      originHost = new URL(origin).host;
    } catch {
      // unparsable origin: refused below
    }
    if (originHost !== host) throw new ApiError(403, "FORBIDDEN_ORIGIN", "requests from another site are refused.");
  }
  if (token === null) {
    if (!isLoopback(hostnameOf(host))) throw new ApiError(403, "FORBIDDEN_HOST", `the Host header "${host}" is not a loopback name; open the dashboard at http://127.0.0.1.`);
    return false;
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  const query = url.searchParams.get("token") ?? undefined;
  const given = bearer ?? query ?? cookieToken(req);
  if (!given || !same(given, token)) {
    throw new ApiError(401, "UNAUTHORIZED", "this server needs the token that `whet ui` printed: open the URL it printed, or send Authorization: Bearer <token>.");
  }
  return query !== undefined;
}
