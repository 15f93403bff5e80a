import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Gateway, simText, startGateway } from '@spool/gateway';
import { createFaultProxy, cutAfterBytes } from '@spool/testkit';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { configWithoutUpstreamRetries } from '../../../packages/react/test/chat-fixtures.js';
import { buildChatPage, DESKTOP, launchChromium, openChatPage, PHONE } from './page-harness.js';

const SCREENSHOTS = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
/** The README's screenshots are rewritten only when asked (`SPOOL_UPDATE_SCREENSHOTS=1`): they are tracked. */
const UPDATE_SCREENSHOTS = process.env.SPOOL_UPDATE_SCREENSHOTS === '1';

let browser: Browser;
let gateway: Gateway;
let staticDir: string;
let context: BrowserContext | undefined;

beforeAll(async () => {
  staticDir = await buildChatPage('spool-chat-page-');
  gateway = await startGateway(
    configWithoutUpstreamRetries({
      server: { port: 0, logLevel: 'silent', staticDir, retryMs: 1000 },
      // 2–4 s an answer: seconds to go offline, reload or stop in the middle of it, however slow the machine.
      providers: { sim: { type: 'sim', ttftMs: 100, tokensPerSecond: 20 } },
    }),
  );
  browser = await launchChromium();
  await mkdir(SCREENSHOTS, { recursive: true });
});

afterEach(async () => {
  await context?.close();
  context = undefined;
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

async function ask(page: Page, prompt: string): Promise<void> {
  await page.getByLabel('Message').fill(prompt);
  await page.getByLabel('Message').press('Enter');
}

function waitForStatus(page: Page, status: string): Promise<void> {
  return page.locator(`.status-bar[data-status="${status}"]`).waitFor();
}

async function answerText(page: Page): Promise<string> {
  return (await page.locator('li[data-role="assistant"] .answer').last().textContent()) ?? '';
}

function waitForPartialAnswer(page: Page): Promise<unknown> {
  return page.waitForFunction(() => {
    const answer = document.querySelector('li[data-role="assistant"][data-state="streaming"] .answer');
    return (answer?.textContent ?? '').length > 20;
  });
}

const expected = (prompt: string, model = 'sim') =>
  simText({ model, messages: [{ role: 'user', content: prompt }] });

/** Picks a model in the page's model picker (the store sends the next message to it). */
async function chooseModel(page: Page, model: string): Promise<void> {
  await page.getByLabel('Model').selectOption(model);
}

/** Takes the screenshot either way (the page must render); writes it to docs/screenshots only when asked. */
async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot(UPDATE_SCREENSHOTS ? { path: join(SCREENSHOTS, name) } : {});
}

describe('the chat page in Chromium against a real gateway', () => {
  test('the answer survives the browser going offline mid-answer, exactly', async () => {
    const page = await openPage();
    await ask(page, 'Tell me about trains');
    await waitForPartialAnswer(page);
    await screenshot(page, 'chat-desktop-streaming.png');
    await context?.setOffline(true);
    await waitForStatus(page, 'offline');
    await expect(page.getByRole('status').textContent()).resolves.toContain('Offline');
    await context?.setOffline(false);
    await waitForStatus(page, 'done');
    expect(await answerText(page)).toBe(expected('Tell me about trains'));
  });

  test('the model picker lists /v1/models; Regenerate and Clear work from the keyboard', async () => {
    const page = await openPage();
    const options = await page.getByLabel('Model').locator('option').allTextContents();
    expect(options).toEqual(['sim', 'sim-fast', 'sim-slow']);
    await chooseModel(page, 'sim-fast');
    await ask(page, 'Quick one');
    await waitForStatus(page, 'done');
    expect(await answerText(page)).toBe(expected('Quick one', 'sim-fast'));
    await page.getByRole('button', { name: 'Regenerate' }).focus();
    await page.keyboard.press('Enter');
    await waitForStatus(page, 'done');
    await expect(page.locator('li[data-role]').count()).resolves.toBe(2);
    expect(await answerText(page)).toBe(expected('Quick one', 'sim-fast'));
    await page.getByRole('button', { name: 'Clear' }).focus();
    await page.keyboard.press('Enter');
    await expect(page.locator('li[data-role]').count()).resolves.toBe(0);
    await expect(
      page.getByLabel('Message').evaluate((element) => element === document.activeElement),
    ).resolves.toBe(true);
  });

  test('a reload mid-answer reattaches and completes the answer exactly', async () => {
    const page = await openPage();
    await ask(page, 'Survive a reload');
    await waitForPartialAnswer(page);
    await page.reload();
    await waitForStatus(page, 'done');
    expect(await answerText(page)).toBe(expected('Survive a reload'));
    await expect(page.locator('li[data-role]').count()).resolves.toBe(2);
  });

  test('Stop cancels the generation on the gateway', async () => {
    const page = await openPage();
    await ask(page, 'Stop me');
    await waitForPartialAnswer(page);
    const streamId = await page.locator('.status-bar').getAttribute('data-stream-id');
    expect(streamId).toMatch(/^str_/);
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitForStatus(page, 'idle');
    await expect(page.locator('li[data-role="assistant"]').getAttribute('data-state')).resolves.toBe(
      'stopped',
    );
    const replay = await fetch(`${gateway.url}/v1/streams/${streamId}`).then((response) => response.text());
    expect(replay).toContain('stream_cancelled');
  });

  test('a 429 before the first byte shows the retry countdown, then the answer arrives', async () => {
    const page = await openPage();
    await page.getByText('Network drill').click();
    await page.locator('[data-drill="429"]').click();
    await ask(page, 'Rate limit me');
    await page.waitForFunction(() =>
      /Reconnecting in [12] s — attempt 1/.test(document.querySelector('.status-text')?.textContent ?? ''),
    );
    await screenshot(page, 'chat-desktop-reconnecting.png');
    await waitForStatus(page, 'done');
    expect(await answerText(page)).toBe(expected('Rate limit me'));
  });

  test('on a phone-width screen, a connection the gateway cuts mid-answer is resumed exactly', async () => {
    const page = await openPage(PHONE);
    await page.getByText('Network drill').click();
    await page.locator('[data-drill="cut"]').click();
    await ask(page, 'Cut me off');
    await waitForStatus(page, 'reconnecting');
    await screenshot(page, 'chat-phone-reconnecting.png');
    await waitForStatus(page, 'streaming');
    await screenshot(page, 'chat-phone-streaming.png');
    await waitForStatus(page, 'done');
    expect(await answerText(page)).toBe(expected('Cut me off'));
    await expect(page.locator('.badge').textContent()).resolves.toMatch(/TTFT \d+ ms.*tok\/s.*↻ 1/);
  });

  test("Chromium's native EventSource resumes GET /v1/streams/{id} after the proxy cuts it", async () => {
    const prompt = 'EventSource resume';
    const started = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim', stream: true, messages: [{ role: 'user', content: prompt }] }),
    });
    const streamId = started.headers.get('x-stream-id');
    // Dropping the POST's connection is not a Stop: the generation goes on for readers to come.
    await started.body?.cancel();
    expect(streamId).toMatch(/^str_/);

    const proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: gateway.port },
      plan: (index) => (index === 0 ? [cutAfterBytes(700)] : []),
    });
    try {
      context = await browser.newContext();
      const page = await context.newPage();
      // A same-origin page that never touches the network, so the EventSource opens connection 0.
      await page.route(`${proxy.url}/blank`, (route) =>
        route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>' }),
      );
      await page.goto(`${proxy.url}/blank`);
      const cut = proxy.waitForEvent('cut');
      const received = await page.evaluate(
        (url) =>
          new Promise<{ events: Array<{ id: string; data: string }>; errors: number }>((resolve, reject) => {
            const events: Array<{ id: string; data: string }> = [];
            let errors = 0;
            const source = new EventSource(url);
            source.onmessage = (event) => {
              events.push({ id: event.lastEventId, data: event.data });
              if (event.data === '[DONE]') {
                source.close();
                resolve({ events, errors });
              }
            };
            source.onerror = () => {
              errors += 1;
              if (source.readyState === EventSource.CLOSED) reject(new Error('EventSource gave up'));
            };
          }),
        `${proxy.url}/v1/streams/${streamId}`,
      );
      await cut;
      expect(received.errors).toBeGreaterThanOrEqual(1);
      expect(proxy.stats.connections).toBeGreaterThanOrEqual(2);
      expect(received.events.map((event) => Number(event.id))).toEqual(
        received.events.map((_, index) => index + 1),
      );
      const text = received.events
        .filter((event) => event.data !== '[DONE]')
        .map((event) => JSON.parse(event.data) as { choices: Array<{ delta?: { content?: string } }> })
        .map((chunk) => chunk.choices[0]?.delta?.content ?? '')
        .join('');
      expect(text).toBe(expected(prompt));
    } finally {
      await proxy.close();
    }
  });
});
