import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { simText } from '../src/index.js';
import { parseSse, spawnSpool, textOf } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Finish me before you go.' }];

describe('SIGTERM', () => {
  it('drains an open stream to [DONE], refuses new connections, then exits 0', async () => {
    const { child, url } = await spawnSpool(['serve', '--port', '0'], {
      ...process.env,
      LOG_LEVEL: 'silent',
    });
    const body: string[] = [];
    const finished = new Promise<string>((resolve, reject) => {
      const client = httpRequest(
        `${url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (response) => {
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body.push(chunk);
            if (body.length === 2) child.kill('SIGTERM');
          });
          response.on('end', () => resolve(body.join('')));
          response.on('error', reject);
        },
      );
      client.on('error', reject);
      client.end(JSON.stringify({ model: 'sim', messages, stream: true }));
    });
    const text = await finished;
    const events = parseSse(text);
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(textOf(events)).toBe(simText({ model: 'sim', messages }));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });
});
