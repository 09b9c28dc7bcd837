// The dashboard's build: `npm run build:web` writes web/dist, which `whet ui` serves.
// During development, `npx vite web` proxies /api to a running `whet ui` on port 7070.
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 200 },
  server: { proxy: { "/api": "http://127.0.0.1:7070" } },
});
