// `whet ui`: the dashboard. Serves web/dist and the API over the runs folder until Ctrl-C.
import { hostname } from "node:os";
import { resolve } from "node:path";
import { WhetError } from "../../errors.ts";
import { parse, intOption } from "../args.ts";
import { isLoopback, newToken } from "../../ui/auth.ts";
import { startUiServer, WEB_DIST } from "../../ui/server.ts";
import { webBuilt } from "../../ui/static.ts";
import type { Command } from "./index.ts";

const OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  "runs-dir": { type: "string" },
} as const;

const HELP = `Usage: whet ui [--port P] [--host H] [--runs-dir DIR]

A dashboard in the browser: the runs in DIR with their state, live curves of a running run
(loss, learning rate, tokens/s, MFU and the step breakdown when reported, every GPU's memory and
utilisation), the saved curves of a finished one, a form that checks a config and launches it,
stop and resume buttons, and a comparison of runs.

Options:
  --port P         port to listen on (default 7070; 0 picks a free one)
  --host H         address to bind (default 127.0.0.1). Any address but the loopback needs the
                   token printed at start (or WHET_UI_TOKEN): open the printed URL once.
  --runs-dir DIR   the runs folder (default ./runs)`;

export const uiCommand: Command = {
  name: "ui",
  summary: "a browser dashboard to launch, watch, stop, resume and compare runs",
  help: () => HELP,
  async run(argv) {
    const { values, positionals } = parse("ui", argv, OPTIONS);
    if (positionals.length) throw new WhetError("USAGE", `unexpected ${positionals.join(" ")}. Run 'whet ui --help'.`);
    const host = values.host ?? "127.0.0.1";
    const port = intOption(values.port, "port") ?? 7070;
    const runsDir = resolve(values["runs-dir"] ?? "runs");
    const token = isLoopback(host) ? null : (process.env.WHET_UI_TOKEN || newToken());
    let ui;
    try {
      ui = await startUiServer({ runsDir, host, port, token });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") throw new WhetError("USAGE", [{ where: "--port", message: `${port} is in use. Pick another port, or --port 0 for any free one.` }]);
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new WhetError("USAGE", [{ where: "--host", message: `${host} is not an address of this machine.` }]);
      throw e;
    }
    const err = (s: string) => process.stderr.write(s + "\n");
    err(`whet ui: runs in ${runsDir}`);
    if (!webBuilt(WEB_DIST)) err(`whet ui: the web app is not built (${WEB_DIST} is missing): run 'npm run build:web'. The API works meanwhile.`);
    if (token) err("whet ui: bound beyond the loopback; every request needs the token in this URL.");
    // A wildcard bind is reached through this machine's name, not 0.0.0.0.
    const url = host === "0.0.0.0" || host === "::" ? ui.url.replace(/\/\/[^/]+:/, `//${hostname()}:`) : ui.url;
    process.stdout.write(`${url}${token ? `?token=${token}` : ""}\n`);
    await new Promise<void>((done) => {
      process.once("SIGINT", done);
      process.once("SIGTERM", done);
    });
    await ui.close();
    return 0;
  },
};
