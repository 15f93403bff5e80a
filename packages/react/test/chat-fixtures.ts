import type { FetchLike } from '@spool/client';
import { type Gateway, type GatewayConfigInput, parseConfig, startGateway } from '@spool/gateway';
import type { ChatStore } from '../src/chat-store.js';
import type { ChatState, StorageLike } from '../src/chat-types.js';

/**
 * Parses a gateway configuration with the gateway's own upstream retries turned off, so that a
 * 429/503 the sim is told to answer reaches the client (and the page can show its countdown).
 */
export function configWithoutUpstreamRetries(input: GatewayConfigInput) {
  return parseConfig({
    ...input,
    resilience: { ...input.resilience, retry: { ...input.resilience?.retry, attempts: 0 } },
  });
}

/** Starts a dev-mode gateway on a free loopback port whose sim answers as fast as it can. */
export function startTestGateway(): Promise<Gateway> {
  return startGateway(
    configWithoutUpstreamRetries({
      server: { port: 0, logLevel: 'silent', heartbeatIntervalMs: 60_000, retryMs: 20 },
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
    }),
  );
}

/** An in-memory Web Storage stand-in, shared between stores to play a page and its reload. */
export class MemoryStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** Resolves with the first snapshot that satisfies `predicate` (checked now and after every change). */
export function waitForState(store: ChatStore, predicate: (state: ChatState) => boolean): Promise<ChatState> {
  return new Promise((resolve) => {
    const check = () => {
      const state = store.getSnapshot();
      if (!predicate(state)) return false;
      unsubscribe();
      resolve(state);
      return true;
    };
    const unsubscribe = store.subscribe(() => {
      check();
    });
    check();
  });
}

/** The last assistant message's text. */
export function answerOf(state: ChatState): string {
  return state.messages.findLast((message) => message.role === 'assistant')?.content ?? '';
}

/** Reads a stream's whole replay from the gateway (`GET /v1/streams/{id}` from event 0). */
export async function readReplay(gatewayUrl: string, streamId: string): Promise<string> {
  const response = await fetch(`${gatewayUrl}/v1/streams/${streamId}`, {
    headers: { accept: 'text/event-stream' },
  });
  return response.text();
}

/** A `fetch` that records each request's method, URL and Last-Event-ID, to check what a store sent. */
export function recordingFetch(): {
  fetch: FetchLike;
  requests: Array<{ method: string; url: string; lastEventId: string | null }>;
} {
  const requests: Array<{ method: string; url: string; lastEventId: string | null }> = [];
  return {
    requests,
    fetch: (url, init) => {
      requests.push({
        method: init.method ?? 'GET',
        url,
        lastEventId: new Headers(init.headers).get('last-event-id'),
      });
      return globalThis.fetch(url, init);
    },
  };
}
