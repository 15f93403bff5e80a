import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { build } from 'vite';

/** What the page tests share: the built page, headless Chromium, and opening the page in it. */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Builds the chat page with vite into a new temporary directory (`prefix…`) and returns it. */
export async function buildChatPage(prefix: string): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), prefix));
  await build({
    configFile: join(APP_ROOT, 'vite.config.ts'),
    logLevel: 'silent',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  return outDir;
}

/** Launches headless Chromium (`CHROMIUM_PATH`, else /usr/bin/chromium) with nothing of its own on the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Opens `url` in a new browser context and waits until the model list arrived (the drill panel,
 * shown when `sim` is listed, is there). The caller closes `context`.
 */
export async function openChatPage(
  browser: Browser,
  url: string,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(url);
  await page.locator('details.drill').waitFor();
  return { context, page };
}
