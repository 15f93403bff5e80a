import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Gateway, parseConfig, simText, startGateway } from '@spool/gateway';
import { type BufferingProxy, type BufferMode, createBufferingProxy } from '@spool/testkit';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROMPT = 'Explain, at some length, why a proxy that buffers event streams hides every token.';

let browser: Browser;
let gateway: Gateway;
let staticDir: string;
let context: BrowserContext | undefined;
let proxy: BufferingProxy | undefined;
let upstreamOpens = 0;

beforeAll(async () => {
  staticDir = await mkdtemp(join(tmpdir(), 'spool-slow-network-'));
  await build({
    configFile: join(APP_ROOT, 'vite.config.ts'),
    logLevel: 'silent',
    build: { outDir: staticDir, emptyOutDir: true, sourcemap: false },
  });
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', staticDir, shutdownGraceMs: 1000 },
      // 5 tokens/s: the answer takes some 14 s, well past the 6 s it takes to notice a whole-response
      // buffer (the page keeps the default detection), so part of it is still to come when noticed.
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 5 } },
    }),
  );
  const chain = gateway.context.chain;
  const openStream = chain.openStream.bind(chain);
  chain.openStream = (...args: Parameters<typeof openStream>) => {
    upstreamOpens += 1;
    return openStream(...args);
  };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
});

afterEach(async () => {
  await context?.close();
  context = undefined;
  await proxy?.close();
  proxy = undefined;
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  if (staticDir) await rm(staticDir, { recursive: true, force: true });
});

describe('the chat page behind a proxy that buffers event streams (Chromium, useChat)', () => {
  test.each(['body', 'whole'] as BufferMode[])(
    'with the %s buffered: shows slow network mode and the answer growing as generated, exact, one generation',
    async (mode) => {
      proxy = await createBufferingProxy({ target: { host: '127.0.0.1', port: gateway.port }, mode });
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(proxy.url);
      await page.locator('details.drill').waitFor();
      const opensBefore = upstreamOpens;
      await page.getByLabel('Message').fill(PROMPT);
      await page.getByLabel('Message').press('Enter');

      await page.locator('.status-bar[data-slow-network="true"]').waitFor({ timeout: 20_000 });
      await expect(page.locator('.status-bar .slow-network').textContent()).resolves.toContain(
        'slow network mode',
      );
      // Part of the answer is shown while it is still being generated: pieces, not all at the end.
      const partial = await page.waitForFunction(
        () => {
          const answer = document.querySelector('li[data-role="assistant"][data-state="streaming"] .answer');
          const text = answer?.textContent ?? '';
          return text.length > 0 ? text : null;
        },
        undefined,
        { timeout: 20_000 },
      );
      const partialText = (await partial.jsonValue()) as string;
      await page.locator('.status-bar[data-status="done"]').waitFor({ timeout: 30_000 });
      const text = (await page.locator('li[data-role="assistant"] .answer').last().textContent()) ?? '';
      const expected = simText({ model: 'sim', messages: [{ role: 'user', content: PROMPT }] });
      expect(partialText.length).toBeLessThan(expected.length);
      expect(text.replace(/\s+/g, ' ').trim()).toBe(expected.replace(/\s+/g, ' ').trim());
      expect(upstreamOpens - opensBefore).toBe(1);
    },
    60_000,
  );
});
