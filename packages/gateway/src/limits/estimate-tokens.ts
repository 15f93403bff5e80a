/** Options of the gateway's token estimates; every default in one place. */
export interface TokenEstimateOptions {
  /** Completion tokens reserved when the request sets neither `max_tokens` nor `max_completion_tokens`. @default 1024 */
  defaultCompletionTokens?: number;
  /** Most completion tokens reserved up front, whatever the request asks for; reconciliation charges the rest. @default 4096 */
  maxReservedCompletionTokens?: number;
  /** Characters per prompt token (a rough rule for English text and code). @default 4 */
  charsPerToken?: number;
}

/** The defaults of {@link TokenEstimateOptions}. */
export const TOKEN_ESTIMATE_DEFAULTS = {
  defaultCompletionTokens: 1024,
  maxReservedCompletionTokens: 4096,
  charsPerToken: 4,
} as const satisfies Required<TokenEstimateOptions>;

/**
 * The prompt tokens of a chat request: the characters of its messages' text (and of a `prompt`) / 4,
 * rounded up. The one prompt estimate: what a request is charged when its upstream reports no
 * usage, the prompt part of the rate limits' reservation, and what the sim reports in `usage`.
 *
 * @example
 * estimatePromptTokens({ messages: [{ role: 'user', content: 'hello world!' }] }); // 3
 */
export function estimatePromptTokens(body: unknown, options: TokenEstimateOptions = {}): number {
  const charsPerToken = options.charsPerToken ?? TOKEN_ESTIMATE_DEFAULTS.charsPerToken;
  const request = isRecord(body) ? body : {};
  let characters = 0;
  if (Array.isArray(request.messages)) {
    for (const message of request.messages) {
      if (isRecord(message)) characters += contentCharacters(message.content);
    }
  }
  if (typeof request.prompt === 'string') characters += request.prompt.length;
  return Math.ceil(characters / charsPerToken);
}

/**
 * Tokens to reserve for a chat request before it runs: its prompt ({@link estimatePromptTokens})
 * plus its completion budget (`max_tokens` ?? `max_completion_tokens` ?? 1024, capped at 4096).
 * Deliberately cheap and rough: the lease is reconciled with the upstream's real usage when the
 * request ends.
 *
 * @example
 * estimateRequestTokens({ messages: [{ role: 'user', content: 'hello world!' }], max_tokens: 10 }); // 13
 */
export function estimateRequestTokens(body: unknown, options: TokenEstimateOptions = {}): number {
  const settings = { ...TOKEN_ESTIMATE_DEFAULTS, ...options };
  const request = isRecord(body) ? body : {};
  const asked = positiveNumber(request.max_tokens) ?? positiveNumber(request.max_completion_tokens);
  const completion = Math.min(
    asked ?? settings.defaultCompletionTokens,
    settings.maxReservedCompletionTokens,
  );
  return estimatePromptTokens(request, settings) + completion;
}

/**
 * Tokens an embeddings request's input will cost: a token array's length, a text's characters / 4.
 * Embeddings have no completion, so this is both the charge and what to reserve.
 * @example estimateEmbeddingTokens(['hello world!', [1, 2, 3]]); // 6
 */
export function estimateEmbeddingTokens(input: unknown, options: TokenEstimateOptions = {}): number {
  const charsPerToken = options.charsPerToken ?? TOKEN_ESTIMATE_DEFAULTS.charsPerToken;
  const items = Array.isArray(input) && !input.every((item) => typeof item === 'number') ? input : [input];
  let tokens = 0;
  for (const item of items) {
    if (typeof item === 'string') tokens += Math.ceil(item.length / charsPerToken);
    else if (Array.isArray(item)) tokens += item.length;
  }
  return tokens;
}

/** Characters of a message's content: a string, or an array of parts whose `text` counts. */
function contentCharacters(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let characters = 0;
  for (const part of content) {
    if (typeof part === 'string') characters += part.length;
    else if (isRecord(part) && typeof part.text === 'string') characters += part.text.length;
  }
  return characters;
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
