import { createHash } from 'node:crypto';
import { type ChatCompletionRequest, type ChatMessage, seededRandom } from '@spool/protocol';

const OPENERS = [
  'Here is a short answer',
  'Good question',
  'Let me walk through it',
  'In brief',
  'There are a few parts to this',
  'The key idea is simple',
];
const SUBJECTS = [
  'the stream',
  'a resumed connection',
  'each event',
  'the gateway',
  'the client',
  'a dropped socket',
  'the spool',
  'every token',
  'the upstream',
  'a retry',
  'the network',
  'a heartbeat',
];
const VERBS = [
  'keeps',
  'numbers',
  'replays',
  'carries',
  'records',
  'delivers',
  'resumes',
  'protects',
  'measures',
  'forwards',
];
const OBJECTS = [
  'the rest of the answer',
  'every event in order',
  'the text without gaps',
  'exactly one generation',
  'what the reader missed',
  'the last event id',
  'a steady pace',
  'the final usage',
  'each chunk as sent',
  'no duplicate tokens',
];
const TAILS = [
  'even on a flaky train connection',
  'when the phone switches networks',
  'after the laptop wakes up',
  'while the proxy times out',
  'so nothing is paid for twice',
  'from any gateway instance',
  '',
  '',
];

/** The text of a message: its string content, or its text parts joined by spaces. */
export function messageText(message: ChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join(' ');
  return '';
}

/**
 * What the sim quotes so different prompts read differently: the last user message, or the tool
 * result when the conversation's last message is one (so an agent sees its tool's answer echoed).
 */
function quotedTurn(messages: readonly ChatMessage[]): string {
  const words = (message: ChatMessage): string =>
    messageText(message).replace(/\s+/g, ' ').trim().split(' ').filter(Boolean).slice(0, 8).join(' ');
  const last = messages.at(-1);
  if (last?.role === 'tool') {
    const result = words(last);
    return result ? `The tool returned: "${result}".` : 'The tool returned nothing.';
  }
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role === 'user') {
      const quoted = words(message);
      return quoted ? `You asked: "${quoted}".` : '';
    }
  }
  return '';
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** The seed the sim derives from a request: messages, model and `seed` together. */
export function simSeed(request: Pick<ChatCompletionRequest, 'messages' | 'model' | 'seed'>): number {
  const digest = createHash('sha256')
    .update(JSON.stringify([request.model, request.seed ?? null, request.messages]))
    .digest();
  return digest.readUInt32LE(0);
}

/** The seed of one choice: choice 0 keeps the request's seed, so `n: 1` answers stay as they were. */
export function simChoiceSeed(requestSeed: number, choiceIndex: number): number {
  return choiceIndex === 0
    ? requestSeed
    : (Math.imul(requestSeed ^ 0x9e3779b9, choiceIndex + 1) ^ choiceIndex) >>> 0;
}

/**
 * The tokens the sim answers a request with: readable sentences, deterministic for the same
 * messages, model and seed, different for different prompts. Each token carries its leading space,
 * so `tokens.join('')` is the whole text. `max_tokens` (or `max_completion_tokens`) truncates it.
 * Choice `choiceIndex` of an `n`-choice answer has its own seed (choice 0 is the plain answer).
 */
export function simTokens(
  request: Pick<ChatCompletionRequest, 'messages' | 'model' | 'seed'> & {
    max_tokens?: number | null;
    max_completion_tokens?: number | null;
  },
  choiceIndex = 0,
): { tokens: string[]; finishReason: 'stop' | 'length' } {
  return simTokensForSeed(request, simChoiceSeed(simSeed(request), choiceIndex));
}

/** `simTokens` for a seed already derived (hashing the messages once for all `n` choices). */
export function simTokensForSeed(
  request: Parameters<typeof simTokens>[0],
  seed: number,
): { tokens: string[]; finishReason: 'stop' | 'length' } {
  const random = seededRandom(seed);
  const quoted = quotedTurn(request.messages);
  const words: string[] = [];
  words.push(...`${pick(OPENERS, random)}.`.split(' '));
  if (quoted) words.push(...quoted.split(' '));
  const sentences = 2 + Math.floor(random() * 5);
  for (let index = 0; index < sentences; index++) {
    const tail = pick(TAILS, random);
    const sentence = `${capitalize(pick(SUBJECTS, random))} ${pick(VERBS, random)} ${pick(OBJECTS, random)}${tail ? ` ${tail}` : ''}.`;
    words.push(...sentence.split(' '));
  }
  const tokens = words.map((word, index) => (index === 0 ? word : ` ${word}`));
  return truncateTokens(tokens, request);
}

/** Cuts an answer's tokens at `max_completion_tokens` (or `max_tokens`), as OpenAI does per choice. */
export function truncateTokens(
  tokens: string[],
  limits: { max_tokens?: number | null; max_completion_tokens?: number | null },
): { tokens: string[]; finishReason: 'stop' | 'length' } {
  const limit = limits.max_completion_tokens ?? limits.max_tokens ?? undefined;
  if (limit !== undefined && limit !== null && limit >= 0 && limit < tokens.length) {
    return { tokens: tokens.slice(0, limit), finishReason: 'length' };
  }
  return { tokens, finishReason: 'stop' };
}

/** The whole text the sim answers a request with (what a client must end up with, byte for byte). */
export function simText(request: Parameters<typeof simTokens>[0]): string {
  return simTokens(request).tokens.join('');
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
