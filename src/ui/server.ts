// The dashboard's HTTP server (node:http): the JSON API under /api/, server-sent events for live
// runs, and the built web app (web/dist) for everything else.
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "../launch/python.ts";
import { authorize, COOKIE } from "./auth.ts";
import { ApiError, sendError, sendJson } from "./http.ts";
import { Launcher } from "./launcher.ts";
import { STREAMING, matchRoute, pathSegments, type AppContext } from "./routes.ts";
import { serveStatic } from "./static.ts";

export const WEB_DIST = join(REPO_ROOT, "web", "dist");

export interface UiServerOptions {
  runsDir: string;
  host: string;
  port: number;
  /** null: loopback without a token. */
  token: string | null;
  webDist?: string;
  baseDir?: string;
  launcher?: Launcher;
}

export interface UiServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const runsDir = resolve(opts.runsDir);
  const app: AppContext = {
    runsDir,
    baseDir: resolve(opts.baseDir ?? process.cwd()),
    launcher: opts.launcher ?? new Launcher({ runsDir }),
  };
  const webDist = opts.webDist ?? WEB_DIST;

  const server = createServer(async (req, res) => {
    try {
      const target = req.url ?? "/";
      const url = new URL(target, "http://whet.invalid");
      const viaQuery = authorize(req, url, opts.token);
      if (viaQuery && opts.token) res.setHeader("Set-Cookie", `${COOKIE}=${opts.token}; HttpOnly; SameSite=Strict; Path=/`);
      const segments = pathSegments(target);
      const method = req.method ?? "GET";
      if (segments[0] !== "api") {
        if (method !== "GET" && method !== "HEAD") throw new ApiError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed here.`);
        serveStatic(res, webDist, segments);
        return;
      }
      const route = matchRoute(method, segments);
      if (route === undefined) throw new ApiError(404, "NOT_FOUND", `no API route ${method} /${segments.join("/")}.`);
      if (route === "wrong-method") throw new ApiError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed on /${segments.join("/")}.`);
      const result = await route.handler({ req, res, params: route.params, query: url.searchParams, app });
      if (result !== STREAMING) sendJson(res, 200, result);
    } catch (e) {
      sendError(res, e);
    }
  });

  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : opts.port;
      const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
      resolvePromise({
        server,
        url: `http://${host}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
