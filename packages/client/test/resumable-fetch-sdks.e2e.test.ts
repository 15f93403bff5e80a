import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { ChatOpenAI } from '@langchain/openai';
import {
  type Gateway,
  parseConfig,
  type SimServer,
  simText,
  startGateway,
  startSimServer,
} from '@spool/gateway';
import { createFaultProxy, cutAfterBytes, seededRandom } from '@spool/testkit';
import { streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumableFetch } from '../src/index.js';
import { formatTable } from './chaos-plan.js';

// Replay a run with SPOOL_CHAOS_SEED=<seed printed below>.
const SEED = Number(process.env.SPOOL_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const STREAMS_PER_SDK = 24;
const CONCURRENCY = 6;
/** The gateway sends `retry: 1000`; capping the backoff at 20 ms keeps hundreds of resumes fast. */
const RETRY = { initialDelayMs: 1, maxDelayMs: 20, maxAttempts: 50 };

/**
 * Streams one prompt's completion through an SDK given `fetch` and the gateway's `…/v1` base URL,
 * returning the text it assembled.
 */
type SdkRun = (baseURL: string, fetch: typeof globalThis.fetch, prompt: string) => Promise<string>;

/** An SDK's run and the text the sim answers it with (its answer depends on the user turn's exact shape). */
interface Sdk {
  run: SdkRun;
  expected: (prompt: string) => string;
}

/** The text of a Responses `response` object's message outputs (the raw event has no `output_text`). */
function outputText(response: OpenAI.Responses.Response): string {
  return response.output
    .flatMap((item) => (item.type === 'message' ? item.content : []))
    .map((part) => (part.type === 'output_text' ? part.text : ''))
    .join('');
}

/** The sim's answer to one user turn whose content is the prompt as a string. */
const answerTo = (prompt: string) => simText({ model: 'sim', messages: [{ role: 'user', content: prompt }] });
/** The same for a turn sent as content parts (the gateway translates `input_text` to a `text` part). */
const answerToParts = (prompt: string) =>
  simText({ model: 'sim', messages: [{ role: 'user', content: [{ type: 'text', text: prompt }] }] });

/** Above the sim's longest answer, so Messages (which requires it) gets the same text as the others. */
const MAX_TOKENS = 4_096;

const SDKS: Record<string, Sdk> = {
  'openai chat.completions.create({ stream: true })': {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      const client = new OpenAI({ baseURL, apiKey: 'sk-test', fetch });
      const stream = await client.chat.completions.create({
        model: 'sim',
        messages: [{ role: 'user', content: prompt }],
        stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      return text;
    },
  },
  "AI SDK streamText(createOpenAI({ fetch }).chat('sim'))": {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      const provider = createOpenAI({ baseURL, apiKey: 'sk-test', fetch });
      const errors: unknown[] = [];
      const result = streamText({
        model: provider.chat('sim'),
        messages: [{ role: 'user', content: prompt }],
        onError: ({ error }) => {
          errors.push(error);
        },
      });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      if (errors.length > 0) throw errors[0];
      return text;
    },
  },
  'openai responses.create({ stream: true })': {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      const client = new OpenAI({ baseURL, apiKey: 'sk-test', fetch });
      const stream = await client.responses.create({ model: 'sim', input: prompt, stream: true });
      let text = '';
      let completed: string | undefined;
      for await (const event of stream) {
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') completed = outputText(event.response);
      }
      // The final response object must agree with the deltas: a replayed or lost event would not.
      if (completed !== text) throw new Error(`response.completed says ${JSON.stringify(completed)}`);
      return text;
    },
  },
  'openai responses.stream().finalResponse()': {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      const client = new OpenAI({ baseURL, apiKey: 'sk-test', fetch });
      let deltas = '';
      const stream = client.responses.stream({ model: 'sim', input: prompt });
      stream.on('response.output_text.delta', (event) => {
        deltas += event.delta;
      });
      const response = await stream.finalResponse();
      if (response.output_text !== deltas) throw new Error(`deltas ${JSON.stringify(deltas)}`);
      return response.output_text;
    },
  },
  "AI SDK streamText(createOpenAI({ fetch })('sim')), the Responses API": {
    expected: answerToParts,
    run: async (baseURL, fetch, prompt) => {
      const provider = createOpenAI({ baseURL, apiKey: 'sk-test', fetch });
      const errors: unknown[] = [];
      const result = streamText({
        model: provider('sim'),
        messages: [{ role: 'user', content: prompt }],
        onError: ({ error }) => {
          errors.push(error);
        },
      });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      if (errors.length > 0) throw errors[0];
      return text;
    },
  },
  '@anthropic-ai/sdk messages.stream().finalMessage()': {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      // The Anthropic SDK appends `/v1/messages` to its base URL itself.
      const client = new Anthropic({ baseURL: baseURL.replace(/\/v1$/, ''), apiKey: 'sk-test', fetch });
      let deltas = '';
      const stream = client.messages.stream({
        model: 'sim',
        max_tokens: MAX_TOKENS,
        messages: [{ role: 'user', content: prompt }],
      });
      stream.on('text', (delta) => {
        deltas += delta;
      });
      const message = await stream.finalMessage();
      const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
      if (text !== deltas || message.stop_reason !== 'end_turn') {
        throw new Error(
          `final ${JSON.stringify(text)} (${message.stop_reason}) ≠ deltas ${JSON.stringify(deltas)}`,
        );
      }
      return text;
    },
  },
  'LangChain ChatOpenAI.stream()': {
    expected: answerTo,
    run: async (baseURL, fetch, prompt) => {
      const model = new ChatOpenAI({ model: 'sim', apiKey: 'sk-test', configuration: { baseURL, fetch } });
      let text = '';
      for await (const chunk of await model.stream([{ role: 'user', content: prompt }])) {
        text += typeof chunk.content === 'string' ? chunk.content : '';
      }
      return text;
    },
  },
};

let sim: SimServer;
let gateway: Gateway;

beforeAll(async () => {
  sim = await startSimServer({ port: 0 });
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', shutdownGraceMs: 1_000 },
      providers: { upstream: { type: 'openai', baseURL: sim.baseURL } },
      models: [{ match: '*', provider: 'upstream' }],
      resilience: { retry: { attempts: 0 } },
    }),
    { env: {} },
  );
});

afterAll(async () => {
  await gateway?.close();
  await sim?.close();
});

interface Outcome {
  text: string;
  expected: string;
  cuts: number;
  reconnects: number;
  bytesSpliced: number;
  /** Resumes that sent `Last-Event-ID` and got an event back. */
  resumes: number;
  /** Of those, the ones whose first event was not the one after `Last-Event-ID`. */
  misresumed: Resume[];
}

/** A resume as sent and answered. */
interface Resume {
  lastEventId: string;
  firstId: string;
}

/**
 * `fetch` that checks each resume on the wire: the first event after `Last-Event-ID: n` must be
 * `n + 1` on every surface (Responses numbers from 0, the others from 1). The splicer drops replays,
 * so without this a gateway that replayed one event too many would go unnoticed.
 */
function resumeCheckingFetch(checks: Array<Promise<Resume | undefined>>): typeof fetch {
  return async (input, init) => {
    const response = await globalThis.fetch(input, init);
    const lastEventId = new Headers(init?.headers).get('last-event-id');
    if (lastEventId !== null && response.status === 200 && response.body) {
      checks.push(
        firstEventId(response.clone()).then((firstId) =>
          firstId === undefined ? undefined : { lastEventId, firstId },
        ),
      );
    }
    return response;
  };
}

/** The `id:` of a response's first event, or `undefined` if the body ends (or is cut) before one. */
async function firstEventId(response: Response): Promise<string | undefined> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
      const id = /(?:^|\n)id: ?([^\r\n]*)\r?\n/.exec(text);
      if (id) return id[1];
    }
  } catch {
    return undefined;
  } finally {
    void reader.cancel().catch(() => {});
  }
}

/** One stream through a proxy that cuts each of its first connections at the drawn byte offsets. */
async function runCut(sdk: Sdk, prompt: string, offsets: number[]): Promise<Outcome> {
  let cuts = 0;
  const proxy = await createFaultProxy({
    target: { host: '127.0.0.1', port: gateway.port },
    plan: (connectionIndex) => {
      const offset = offsets[connectionIndex];
      return offset === undefined ? [] : [cutAfterBytes(offset)];
    },
    onEvent: (event) => {
      if (event.type === 'cut') cuts += 1;
    },
  });
  try {
    const checks: Array<Promise<Resume | undefined>> = [];
    const fetch = resumableFetch({ retry: RETRY, fetch: resumeCheckingFetch(checks) });
    const text = await sdk.run(`${proxy.url}/v1`, fetch, prompt);
    const stats = fetch.stats();
    const resumes = (await Promise.all(checks)).filter((resume) => resume !== undefined);
    return {
      text,
      expected: sdk.expected(prompt),
      cuts,
      reconnects: stats?.reconnects ?? 0,
      bytesSpliced: stats?.bytesSpliced ?? 0,
      resumes: resumes.length,
      misresumed: resumes.filter(({ lastEventId, firstId }) => Number(firstId) !== Number(lastEventId) + 1),
    };
  } finally {
    await proxy.close();
  }
}

async function runAll(sdk: Sdk, plans: Array<{ prompt: string; offsets: number[] }>): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(plans.length);
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const index = next++;
      const plan = plans[index]!;
      outcomes[index] = await runCut(sdk, plan.prompt, plan.offsets);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

describe(`resumableFetch under the official SDKs, cut at random byte offsets (seed ${SEED})`, () => {
  const cutsBySdk: Record<string, number> = {};
  const random = seededRandom(SEED);
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

  for (const [name, sdk] of Object.entries(SDKS)) {
    const plans = Array.from({ length: STREAMS_PER_SDK }, (_, index) => ({
      prompt: `${name.split(' ')[0]} stream ${index} seed ${SEED}`,
      // Offsets span the response headers and the first events of each connection.
      offsets: Array.from({ length: between(3, 5) }, () => between(0, 1_500)),
    }));

    it(`${name} given only fetch: resumableFetch() delivers exactly the uncut text from one generation`, async () => {
      const streamsBefore = sim.stats.streams;
      const startedAt = performance.now();
      const outcomes = await runAll(sdk, plans);
      const elapsedMs = performance.now() - startedAt;
      const cuts = outcomes.reduce((total, outcome) => total + outcome.cuts, 0);
      cutsBySdk[name] = cuts;
      console.log(
        formatTable(`${name}: seed ${SEED}`, [
          ['streams', STREAMS_PER_SDK],
          ['cuts', cuts],
          ['reconnects', outcomes.reduce((total, outcome) => total + outcome.reconnects, 0)],
          ['bytes spliced', outcomes.reduce((total, outcome) => total + outcome.bytesSpliced, 0)],
          ['resumes after an event', outcomes.reduce((total, outcome) => total + outcome.resumes, 0)],
          ['sim generations', sim.stats.streams - streamsBefore],
          ['wall time', `${(elapsedMs / 1000).toFixed(1)} s`],
        ]),
      );
      const context = `seed ${SEED}`;
      expect(
        outcomes.filter((outcome) => outcome.text !== outcome.expected),
        context,
      ).toEqual([]);
      expect(
        outcomes.flatMap((outcome) => outcome.misresumed),
        context,
      ).toEqual([]);
      expect(sim.stats.streams - streamsBefore, context).toBe(STREAMS_PER_SDK);
      expect(cuts, context).toBeGreaterThanOrEqual(STREAMS_PER_SDK * 2);
    }, 60_000);
  }

  it('resumes with resumableFetch() at its defaults under each SDK (one cut, the gateway’s 1 s retry)', async () => {
    const streamsBefore = sim.stats.streams;
    const outcomes = await Promise.all(
      Object.entries(SDKS).map(async ([name, sdk]) => {
        const proxy = await createFaultProxy({
          target: { host: '127.0.0.1', port: gateway.port },
          plan: (connectionIndex) => (connectionIndex === 0 ? [cutAfterBytes(900)] : []),
        });
        try {
          const prompt = `${name} with defaults`;
          const text = await sdk.run(`${proxy.url}/v1`, resumableFetch(), prompt);
          return {
            name,
            exact: text === sdk.expected(prompt),
            cuts: proxy.stats.cuts,
          };
        } finally {
          await proxy.close();
        }
      }),
    );
    expect(outcomes).toEqual(Object.keys(SDKS).map((name) => ({ name, exact: true, cuts: 1 })));
    expect(sim.stats.streams - streamsBefore).toBe(Object.keys(SDKS).length);
  }, 20_000);

  it('made at least 200 cuts across the SDKs', () => {
    const total = Object.values(cutsBySdk).reduce((sum, cuts) => sum + cuts, 0);
    expect(Object.keys(cutsBySdk)).toHaveLength(Object.keys(SDKS).length);
    expect(total, `seed ${SEED}`).toBeGreaterThanOrEqual(200);
  });
});
