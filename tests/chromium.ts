/**
 * Headless Chromium for the browser tests: Debian's `chromium` (never a downloaded browser),
 * driven by playwright-core, with a fresh profile per launch, and a folder for the screenshots
 * the tests keep (`outputs/test-artifacts/<name>/`, ignored by git).
 *
 * Without the browser the tests are skipped with the reason in their name, except in CI
 * (`CI` set), where they must run: `.ci/run` installs `chromium` with apt, and only when that
 * fails does it say why in `WORLDFLUX_CHROMIUM_UNAVAILABLE` (the tests are then skipped with
 * that reason).
 * @module
 */

import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { fileURLToPath } from "node:url";

/** The browser binary (`WORLDFLUX_CHROMIUM` overrides Debian's). */
export const CHROMIUM: string = Deno.env.get("WORLDFLUX_CHROMIUM") ?? "/usr/bin/chromium";

/** The flags of every launch: headless, WebGPU allowed, no network of its own, no sandbox (root). */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless=new",
  "--enable-unsafe-webgpu",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function present(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Why the browser tests cannot run here, or null when they can (or must: in CI an absent browser
 * without a reason from `.ci/run` is a failure of the test, not a skip).
 */
export function chromiumSkipReason(): string | null {
  if (present(CHROMIUM)) return null;
  const unavailable = Deno.env.get("WORLDFLUX_CHROMIUM_UNAVAILABLE");
  if (unavailable) return unavailable;
  if (Deno.env.get("CI")) return null;
  return `${CHROMIUM} is absent (apt-get install -y chromium)`;
}

/** A headless Chromium with a fresh profile; `close()` also removes the profile. */
export async function launchChromium(
  viewport = { width: 1400, height: 1500 },
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!present(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is absent: CI must run the browser tests (.ci/run installs chromium with apt)`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "wf_chromium_" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // Playwright's own headless flag is off: the args choose the new headless mode.
    headless: false,
    args: [...CHROMIUM_ARGS],
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** `outputs/test-artifacts/<name>/` of the checkout (created), for screenshots. */
export async function artifactDir(name: string): Promise<string> {
  const dir = fileURLToPath(new URL(`../outputs/test-artifacts/${name}/`, import.meta.url));
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Collects what a tested page must not do, as lines: console errors and warnings, uncaught
 * errors, failed requests (except those `failureExpected` accepts, e.g. a stream cut when the
 * page closes) and requests outside `origin`. The test asserts the list is empty at the end.
 */
export function watchPage(
  page: Page,
  origin: string,
  failureExpected: (url: string) => boolean = () => false,
): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    if (!failureExpected(r.url())) problems.push(`request failed: ${r.url()}`);
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(origin)) problems.push(`outside request: ${r.url()}`);
  });
  return problems;
}
