import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import { parseJsonObject } from '../../http/parse-json-object.js';

// What the gateway itself relies on in a Messages request, with Anthropic's types and bounds
// (https://docs.anthropic.com/en/api/messages). Objects are loose: unknown fields and block types
// pass through to a native upstream untouched; a translation refuses what it cannot honour.

/** Most messages in one request. */
const MAX_MESSAGES = 100_000;
/** Most content blocks in one message, system blocks, tools or stop sequences. */
const MAX_ITEMS = 10_000;

const nonEmptyName = z.string().min(1).max(256);

/** A content block: its `type` is all the schema checks; the translation checks the rest. */
const contentBlock = z.looseObject({ type: z.string().min(1).max(128) });

const content = z.union([z.string(), z.array(contentBlock).max(MAX_ITEMS)]);

const message = z.looseObject({
  // `system` mid-conversation: Claude Code sends it (the `mid-conversation-system` beta).
  role: z.enum(['user', 'assistant', 'system']),
  content,
});

const systemBlock = z.looseObject({ type: z.literal('text'), text: z.string() });

/** The body of `POST /v1/messages` as far as the gateway reads it. */
export const messagesRequestSchema = z.looseObject({
  model: nonEmptyName,
  max_tokens: z.number().int().min(1),
  messages: z.array(message).min(1).max(MAX_MESSAGES),
  system: z.union([z.string(), z.array(systemBlock).max(MAX_ITEMS)]).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).max(MAX_ITEMS).optional(),
  metadata: z.looseObject({ user_id: z.string().max(512).nullish() }).optional(),
  tools: z
    .array(z.looseObject({ name: nonEmptyName }))
    .max(MAX_ITEMS)
    .optional(),
  tool_choice: z
    .looseObject({
      type: z.enum(['auto', 'any', 'tool', 'none']),
      name: nonEmptyName.optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    })
    .optional(),
  thinking: z.looseObject({ type: z.string().min(1).max(64) }).optional(),
});

/** A Messages request as the gateway reads it (unknown fields kept). */
export type MessagesRequest = z.infer<typeof messagesRequestSchema>;

/** The body of `POST /v1/messages/count_tokens`: a Messages request without `max_tokens`. */
export const countTokensRequestSchema = messagesRequestSchema.extend({
  max_tokens: z.number().int().min(1).optional(),
});

/** Formats a zod issue path as the `param` of an error: `messages[0].content[2].type`. */
function paramOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || 'body';
}

/**
 * Parses a Messages request body.
 * @throws GatewayError 400 (`invalid_json` or `invalid_request`, naming the `param`).
 */
export function parseMessagesRequest(
  raw: Buffer,
  maxDepth: number,
  schema: typeof messagesRequestSchema | typeof countTokensRequestSchema = messagesRequestSchema,
): MessagesRequest {
  const body = parseJsonObject(raw, maxDepth);
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const param = paramOf(issue.path);
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    throw GatewayError.of(
      'invalid_request',
      missing ? `${param}: Field required` : `${param}: ${issue.message}`,
      { param },
    );
  }
  return result.data as MessagesRequest;
}
