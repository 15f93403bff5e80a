import { createHash } from 'node:crypto';
import type { ChatCompletionRequest, ChatMessage } from '@spool/protocol';

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

/** A deterministic pseudo-random generator (mulberry32) so the same request yields the same text. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function messageText(message: ChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join(' ');
  return '';
}

/** The last user message, which the sim quotes so different prompts read differently. */
function lastUserText(messages: readonly ChatMessage[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role === 'user') return messageText(message).replace(/\s+/g, ' ').trim();
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

/**
 * The tokens the sim answers a request with: readable sentences, deterministic for the same
 * messages, model and seed, different for different prompts. Each token carries its leading space,
 * so `tokens.join('')` is the whole text. `max_tokens` (or `max_completion_tokens`) truncates it.
 */
export function simTokens(
  request: Pick<ChatCompletionRequest, 'messages' | 'model' | 'seed'> & {
    max_tokens?: number | null;
    max_completion_tokens?: number | null;
  },
): { tokens: string[]; finishReason: 'stop' | 'length' } {
  const random = seededRandom(simSeed(request));
  const quoted = lastUserText(request.messages).split(' ').filter(Boolean).slice(0, 8).join(' ');
  const words: string[] = [];
  words.push(...`${pick(OPENERS, random)}.`.split(' '));
  if (quoted) words.push(...`You asked: "${quoted}".`.split(' '));
  const sentences = 2 + Math.floor(random() * 5);
  for (let index = 0; index < sentences; index++) {
    const tail = pick(TAILS, random);
    const sentence = `${capitalize(pick(SUBJECTS, random))} ${pick(VERBS, random)} ${pick(OBJECTS, random)}${tail ? ` ${tail}` : ''}.`;
    words.push(...sentence.split(' '));
  }
  const tokens = words.map((word, index) => (index === 0 ? word : ` ${word}`));
  const limit = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  if (limit !== undefined && limit !== null && limit >= 0 && limit < tokens.length) {
    return { tokens: tokens.slice(0, limit), finishReason: 'length' };
  }
  return { tokens, finishReason: 'stop' };
}

/** The whole text the sim answers a request with (what a client must end up with, byte for byte). */
export function simText(request: Parameters<typeof simTokens>[0]): string {
  return simTokens(request).tokens.join('');
}

/** A rough prompt token count (4 characters a token), as the sim reports in `usage`. */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let characters = 0;
  for (const message of messages) characters += messageText(message).length + 4;
  return Math.max(1, Math.ceil(characters / 4));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
