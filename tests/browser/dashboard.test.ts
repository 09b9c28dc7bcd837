// The dashboard in headless Chromium: the runs list, a recorded run, a comparison, and a tiny
// CPU run started from the form, watched live, stopped, resumed and finished.
// Screenshots of every page go to $WHET_SCREENSHOTS (default: a temporary folder, printed).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { dashboard, openBrowser, pointsOf, shot, skipReason, stepOf, useRealWorker, SCREENSHOTS } from "./helpers.ts";
import { DONE, FAILED, STOPPED } from "../../src/ui/testdata/helpers.ts";
import { processAlive, readProcessRecord } from "../../src/runs/store.ts";

const skip = skipReason();
const real = useRealWorker();
let browser: BrowserContext;
let page: Page;
let server: Awaited<ReturnType<typeof dashboard>>;

before(async () => {
  if (skip) return;
  server = await dashboard(real);
  browser = await openBrowser();
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(30_000);
  process.stderr.write(`browser tests: screenshots in ${SCREENSHOTS}; worker: ${real ? "real whet train" : "fake"}\n`);
});

after(async () => {
  await browser?.close();
  await server?.close();
  // A failed test must not leave its training run behind (it runs detached, as from the dashboard).
  const rec = launched ? readProcessRecord(join(server.runsDir, launched)) : null;
  if (rec && processAlive(rec.pid)) process.kill(rec.pid, "SIGTERM");
});

test("the runs list shows every run with its state", { skip: skip ?? false }, async () => {
  await page.goto(server.url);
  const table = page.getByTestId("runs-table");
  await table.waitFor();
  assert.equal(await page.locator("tr[data-run]").count(), 4);
  assert.equal(await page.locator(`tr[data-run="${DONE}"] [data-testid=status]`).textContent(), "done");
  assert.equal(await page.locator(`tr[data-run="${FAILED}"] [data-testid=status]`).textContent(), "failed");
  assert.equal(await page.locator(`tr[data-run="${STOPPED}"] [data-testid=status]`).textContent(), "stopped");
  await shot(page, "1-runs-list");
});

test("a finished run is replayed from its saved events", { skip: skip ?? false }, async () => {
  await page.goto(`${server.url}#/runs/${DONE}`);
  await page.getByText("replay of saved events").waitFor();
  assert.equal(await page.getByTestId("step-counter").textContent(), "10/10");
  assert.equal(await pointsOf(page, "loss-chart"), 10);
  assert.equal(await page.locator("[data-testid=checkpoints] li").count(), 2);
  // Per-GPU memory and utilisation from the saved samples; MFU and the stacked step breakdown.
  assert.equal(await pointsOf(page, "gpu-mem-chart"), 13);
  assert.equal(await pointsOf(page, "gpu-util-chart"), 13);
  assert.equal(await page.locator("[data-testid=gpu-table] tbody tr").count(), 2);
  assert.equal(await page.getByTestId("mfu").textContent(), "41.0%");
  assert.equal(await pointsOf(page, "breakdown-chart"), 10);
  await page.getByText("Resolved config (spec.json)").click();
  assert.match((await page.getByTestId("spec").textContent()) ?? "", /"run_id": "20250101-100000-lora-sft"/);
  await shot(page, "2-run-replay");
  await page.goto(`${server.url}#/runs/${FAILED}`);
  await page.getByText("CUDA out of memory").first().waitFor();
  await page.getByTestId("gpu-none").getByText("no GPU samples").waitFor();
  assert.equal(await page.getByTestId("breakdown-chart").count(), 0, "no breakdown without its fields");
  await shot(page, "3-run-failed");
});

let launched = "";

test("a tiny CPU run starts from the form, runs live, stops, resumes and finishes", { skip: skip ?? false, timeout: 540_000 }, async () => {
  await page.goto(`${server.url}#/new`);
  await page.getByTestId("config-form").waitFor();
  await page.fill("#run-name", "browser");
  await page.fill("#f-max_steps", real ? "150" : "60");
  await page.fill("#f-save_steps", "1000");
  await page.fill("#f-logging_steps", "1");
  await page.getByTestId("valid").waitFor();
  // A mistake is reported by the server's validation next to its field, and fixed.
  await page.fill("#f-learning_rate", "-1");
  await page.locator('[data-field="learning_rate"] .problem').waitFor();
  await page.fill("#f-learning_rate", "0.003");
  await page.getByTestId("valid").waitFor();
  await page.getByTestId("show-sample").click();
  await page.locator("[data-testid=sample] .trained").first().waitFor();
  await page.getByTestId("predict-memory").click();
  await page.getByTestId("memory-plan").waitFor();
  await shot(page, "4-new-run");

  await page.getByTestId("launch").click();
  await page.waitForURL(/#\/runs\/.+-browser$/);
  launched = decodeURIComponent(page.url().split("#/runs/")[1]!);
  await page.getByText("● live").waitFor();
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=step-counter]")?.textContent?.split("/")[0]) >= 3, null, { timeout: 120_000 });
  const first = await stepOf(page);
  const firstPoints = await pointsOf(page, "loss-chart");
  await page.waitForFunction((n) => Number(document.querySelector("[data-testid=step-counter]")?.textContent?.split("/")[0]) > n + 3, first);
  assert.ok((await pointsOf(page, "loss-chart")) > firstPoints, "the loss chart advances");
  assert.equal(await page.getByTestId("status").textContent(), "running");
  // GPU samples as whet train's nvidia-smi sampler appends them (this CPU run has none of its own):
  // the page polls them while the run is live.
  const t = Date.now() / 1000;
  const gpus = (u: number) => [0, 1].map((index) => ({ index, util_pct: u - 7 * index, mem_used_gib: 20 + index, mem_total_gib: 79.6, power_w: 400 }));
  appendFileSync(join(server.runsDir, launched, "gpu.jsonl"), [t - 3, t].map((time, i) => JSON.stringify({ time, host: "test", gpus: gpus(90 + i) }) + "\n").join(""));
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=gpu-util-chart]")?.getAttribute("data-points")) >= 2, null, { timeout: 20_000 });
  await shot(page, "5-run-live");

  await page.getByTestId("stop").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent === "stopped", null, { timeout: 120_000 });
  const stoppedAt = await stepOf(page);
  assert.ok(stoppedAt < (real ? 150 : 60), `stopped before the end (at ${stoppedAt})`);
  await page.getByTestId("checkpoints").waitFor();
  await shot(page, "6-run-stopped");

  await page.getByTestId("resume").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent === "running", null, { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent === "done", null, { timeout: 420_000 }); // shared CPUs can make a step take seconds
  assert.equal(await page.getByTestId("step-counter").textContent(), real ? "150/150" : "60/60");
  assert.ok((await pointsOf(page, "loss-chart")) >= (real ? 150 : 60) - 1);
  await shot(page, "7-run-done");
});

test("two runs are compared: config differences and loss curves on one chart", { skip: skip ?? false }, async () => {
  const other = launched || FAILED;
  await page.goto(server.url);
  await page.locator(`tr[data-run="${DONE}"] input[type=checkbox]`).check();
  await page.locator(`tr[data-run="${other}"] input[type=checkbox]`).check();
  await page.getByTestId("compare").click();
  await page.getByTestId("config-diff").waitFor();
  assert.ok((await page.locator("[data-testid=config-diff] tbody tr").count()) > 3);
  assert.ok((await pointsOf(page, "compare-chart")) >= 10);
  // uPlot draws its legend after the data; wait for it rather than reading it mid-render.
  await page.locator("[data-testid=compare-chart] .u-legend .u-series").nth(2).waitFor();
  assert.equal(await page.locator("[data-testid=compare-chart] .u-legend .u-series").count(), 3);
  await shot(page, "8-compare");
});
