import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { type Gateway, parseConfig, startGateway } from '@spool/gateway';
import { getFreePort } from '@spool/testkit';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { buildChatPage, DESKTOP, launchChromium, openChatPage, PHONE } from './page-harness.js';

// Writes no screenshots: the tracked docs/screenshots/*.png belong to chat-page.test.ts.

let browser: Browser;
let gateway: Gateway;
let staticDir: string;
let context: BrowserContext | undefined;
/** Servers of the page hosted on another origin, closed after each test. */
let pageServers: Server[] = [];

beforeAll(async () => {
  staticDir = await buildChatPage('spool-status-page-');
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', staticDir },
      providers: {
        sim: { type: 'sim', ttftMs: 100, tokensPerSecond: 20 },
        dead: { type: 'openai', baseURL: `http://127.0.0.1:${await getFreePort()}/v1` },
      },
      models: [
        { match: 'sim*', provider: 'sim' },
        { match: 'dead-model', provider: 'dead' },
      ],
      resilience: { retry: { attempts: 0 } },
    }),
  );
  browser = await launchChromium();
});

afterEach(async () => {
  await context?.close();
  context = undefined;
  for (const server of pageServers) server.close();
  pageServers = [];
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  if (staticDir) await rm(staticDir, { recursive: true, force: true });
});

async function openPage(viewport = DESKTOP): Promise<Page> {
  let page: Page;
  ({ context, page } = await openChatPage(browser, gateway.url, viewport));
  return page;
}

/**
 * The built page served from another local origin (its own port: loopback to loopback, so Chromium's
 * private-network rules stay out of it), talking to `baseURL` through its `spool-base-url` meta.
 */
async function openPageElsewhere(baseURL: string): Promise<Page> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.css': 'text/css',
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://page').pathname;
    const file = join(staticDir, path === '/' ? 'index.html' : normalize(path));
    readFile(file).then(
      (body) => {
        const sent =
          path === '/'
            ? body.toString().replace('<head>', `<head><meta name="spool-base-url" content="${baseURL}">`)
            : body;
        response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
        response.end(sent);
      },
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pageServers.push(server);
  context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return page;
}

async function ask(page: Page, prompt: string): Promise<void> {
  await page.getByLabel('Message').fill(prompt);
  await page.getByLabel('Message').press('Enter');
}

function statusText(page: Page): Promise<string | null> {
  return page.locator('.status').textContent();
}

/** What tells a status apart besides words: its icon, and the bar's border and background. */
function looks(page: Page) {
  return page.evaluate(() => {
    const bar = document.querySelector('.status-bar') as HTMLElement;
    const icon = bar.querySelector('.status-icon') as HTMLElement;
    const style = getComputedStyle(bar);
    const iconStyle = getComputedStyle(icon);
    return {
      tone: bar.dataset.tone,
      icon: icon.textContent,
      border: style.borderStyle,
      background: style.backgroundColor,
      iconBackground: iconStyle.backgroundColor,
    };
  });
}

describe('the chat page says why it waits or failed', () => {
  test('a provider 429 reads as the provider rate limiting, with the countdown and the code as detail', async () => {
    const page = await openPage();
    await page.getByText('Network drill').click();
    await page.locator('[data-drill="429"]').click();
    await ask(page, 'Rate limit me');
    await page.waitForFunction(() =>
      /Rate limited by the model's provider \(sim\) · Reconnecting in [12] s — attempt 1/.test(
        document.querySelector('.status-text')?.textContent ?? '',
      ),
    );
    expect(await page.locator('.status-detail').textContent()).toBe('(sim_fault, HTTP 429)');
    await page.locator('.status-bar[data-status="done"]').waitFor();
  });

  test("a dead upstream fails at once with the model's server unreachable, no countdown", async () => {
    const page = await openPage();
    await page.getByLabel('Model').selectOption('dead-model');
    await ask(page, 'Anyone there?');
    await page.locator('.status-bar[data-status="error"]').waitFor({ timeout: 5000 });
    expect(await page.locator('.status-text').textContent()).toBe("The model's server is unreachable");
    expect(await page.locator('.status-detail').textContent()).toBe('(upstream_unreachable, HTTP 502)');
    await expect(page.getByRole('button', { name: 'Retry' }).isVisible()).resolves.toBe(true);
  });

  test('offline and error look different: icon, border and background, not only a colour', async () => {
    const page = await openPage();
    await page.getByLabel('Model').selectOption('dead-model');
    await ask(page, 'Fail first');
    await page.locator('.status-bar[data-status="error"]').waitFor();
    const error = await looks(page);
    await page.getByLabel('Model').selectOption('sim-slow');
    await ask(page, 'Then go offline');
    await page
      .locator('.status-bar[data-status="streaming"], .status-bar[data-status="connecting"]')
      .first()
      .waitFor();
    await context?.setOffline(true);
    await page.locator('.status-bar[data-status="offline"]').waitFor();
    const offline = await looks(page);
    expect(await statusText(page)).toMatch(/Offline — the answer resumes when the connection returns/);
    expect(offline.tone).toBe('offline');
    expect(error.tone).toBe('error');
    expect(offline.icon).not.toBe(error.icon);
    expect(offline.border).not.toBe(error.border);
    expect(offline.background).not.toBe(error.background);
    expect(offline.iconBackground).not.toBe(error.iconBackground);
    await context?.setOffline(false);
  });

  test('a page on another origin that the gateway does not allow says it is blocked by CORS', async () => {
    const page = await openPageElsewhere(`${gateway.url}/v1`);
    await page.waitForFunction(() =>
      /^Could not list models: blocked by CORS/.test(
        document.querySelector('#models-error')?.textContent ?? '',
      ),
    );
    await ask(page, 'Hello from elsewhere');
    await page.waitForFunction(() =>
      /^Blocked by CORS: add this page's origin to the gateway's cors.origins · Reconnecting/.test(
        document.querySelector('.status-text')?.textContent ?? '',
      ),
    );
    expect(await page.locator('.status-detail').textContent()).toBe('(network_error)');
  });

  test('a page whose gateway is down says the gateway is unreachable', async () => {
    const page = await openPageElsewhere(`http://127.0.0.1:${await getFreePort()}/v1`);
    await ask(page, 'Hello?');
    await page.waitForFunction(() =>
      /^The gateway is unreachable · Reconnecting/.test(
        document.querySelector('.status-text')?.textContent ?? '',
      ),
    );
  });

  test('on a phone the open drill panel leaves the conversation and the composer on screen', async () => {
    const page = await openPage(PHONE);
    await ask(page, 'A phone answer');
    await page.locator('.status-bar[data-status="done"]').waitFor();
    await page.getByText('Network drill').click();
    await page.locator('[data-drill="cut"]').waitFor({ state: 'visible' });
    const boxes = await page.evaluate(() => {
      const box = (selector: string) => {
        const rect = (document.querySelector(selector) as HTMLElement).getBoundingClientRect();
        return { top: rect.top, bottom: rect.bottom, height: rect.height };
      };
      return { conversation: box('.conversation'), composer: box('.composer'), viewport: window.innerHeight };
    });
    expect(boxes.conversation.height).toBeGreaterThan(boxes.viewport * 0.4);
    expect(boxes.composer.bottom).toBeLessThanOrEqual(boxes.viewport);
    // The drill's buttons can still be used.
    await page.locator('[data-drill="cut"]').click();
    await expect(page.locator('[data-drill="cut"]').getAttribute('aria-pressed')).resolves.toBe('true');
  });

  test('ships a favicon: the page links one, and /favicon.ico is not a 404', async () => {
    const missing: string[] = [];
    context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    page.on('response', (response) => {
      if (response.status() >= 400) missing.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(gateway.url);
    await page.locator('details.drill').waitFor();
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toBe('/favicon.svg');
    const linked = await fetch(new URL(icon as string, gateway.url));
    expect([linked.status, linked.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
    const ico = await fetch(`${gateway.url}/favicon.ico`);
    expect([ico.status, ico.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
    expect(missing).toEqual([]);
  });
});
