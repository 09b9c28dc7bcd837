// Runs every TypeScript test (*.test.ts under src/ and tests/) with node's test runner.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
// Browser tests drive a real training run; they run alone (npm run test:browser), not beside
// the CPU-heavy end-to-end tests, unless named here.
const files = ["src", "tests"]
  .flatMap((d) => find(d))
  .filter((f) => (filter.length === 0 ? !f.includes("tests/browser/") : filter.some((x) => f.includes(x))));
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
