// Shared by the browser tests: headless Chromium (the Debian package, through playwright-core),
// a dashboard server over a copy of the recorded runs, and screenshots into $WHET_SCREENSHOTS.
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startUiServer, WEB_DIST, type UiServer } from "../../src/ui/server.ts";
import { webBuilt } from "../../src/ui/static.ts";
import { Launcher } from "../../src/ui/launcher.ts";
import { REPO_ROOT } from "../../src/launch/python.ts";
import { fixtureRuns, FAKE_WHET } from "../../src/ui/testdata/helpers.ts";

export const CHROMIUM = process.env.WHET_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = process.env.WHET_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "whet-screens-"));

/** Why these tests cannot run here, or null when they can. */
export function skipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set WHET_CHROMIUM)`;
  if (!webBuilt(WEB_DIST)) return "the web app is not built (npm run build:web)";
  return null;
}

/** The real `whet train` when its worker can run (a venv with torch), else the fake one. */
export function useRealWorker(): boolean {
  if (process.env.WHET_BROWSER_WORKER === "fake") return false;
  return existsSync(join(REPO_ROOT, "worker", "whet_worker")) && (existsSync(join(REPO_ROOT, ".venv", "bin", "python")) || Boolean(process.env.WHET_PYTHON));
}

/** A fresh profile each time (playwright-core passes it as --user-data-dir). */
export async function openBrowser(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "whet-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export async function dashboard(real: boolean): Promise<UiServer & { runsDir: string }> {
  const runsDir = fixtureRuns();
  const launcher = new Launcher({
    runsDir,
    ...(real ? {} : { whet: [process.execPath, FAKE_WHET] }),
    env: { ...process.env, FAKE_WHET_STEPS: "60", FAKE_WHET_STEP_MS: "150" },
  });
  const s = await startUiServer({ runsDir, host: "127.0.0.1", port: 0, token: null, launcher });
  return { ...s, runsDir };
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The step counter as a number ("12/60" -> 12). */
export async function stepOf(page: Page): Promise<number> {
  const text = (await page.getByTestId("step-counter").textContent()) ?? "0/0";
  return Number(text.split("/")[0]);
}

export async function pointsOf(page: Page, testId: string): Promise<number> {
  return Number(await page.getByTestId(testId).getAttribute("data-points"));
}
