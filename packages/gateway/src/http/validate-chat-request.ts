import type { ChatCompletionRequest } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import { parseJsonObject, typeName } from './parse-json-object.js';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** A 400 `invalid_request` naming the param at fault. */
export function invalid(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

/**
 * Parses and checks a chat-completions body: the fields the gateway relies on must have OpenAI's
 * types (each error names the `param`), and everything else passes through to the upstream.
 */
export function parseChatRequest(raw: Buffer): ChatCompletionRequest {
  const record = parseJsonObject(raw);
  if (record.model === undefined) throw invalid("Missing required parameter: 'model'.", 'model');
  if (typeof record.model !== 'string' || record.model.trim() === '') {
    throw invalid(`'model' must be a non-empty string, got ${typeName(record.model)}.`, 'model');
  }
  if (record.messages === undefined) throw invalid("Missing required parameter: 'messages'.", 'messages');
  if (!Array.isArray(record.messages)) {
    throw invalid(`'messages' must be an array, got ${typeName(record.messages)}.`, 'messages');
  }
  if (record.messages.length === 0)
    throw invalid("'messages' must contain at least one message.", 'messages');
  record.messages.forEach((message: unknown, index) => {
    const param = `messages[${index}]`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw invalid(`'${param}' must be an object, got ${typeName(message)}.`, param);
    }
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalid(
        `'${param}.role' must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(role)}.`,
        `${param}.role`,
      );
    }
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      throw invalid(
        `'${param}.content' must be a string or an array of parts, got ${typeName(content)}.`,
        `${param}.content`,
      );
    }
  });
  if (record.stream !== undefined && record.stream !== null && typeof record.stream !== 'boolean') {
    throw invalid(`'stream' must be a boolean, got ${typeName(record.stream)}.`, 'stream');
  }
  const options = record.stream_options;
  if (options !== undefined && options !== null) {
    if (typeof options !== 'object' || Array.isArray(options)) {
      throw invalid(`'stream_options' must be an object, got ${typeName(options)}.`, 'stream_options');
    }
    const includeUsage = (options as Record<string, unknown>).include_usage;
    if (includeUsage !== undefined && typeof includeUsage !== 'boolean') {
      throw invalid(`'stream_options.include_usage' must be a boolean.`, 'stream_options.include_usage');
    }
    if (record.stream !== true) {
      throw invalid("'stream_options' is only allowed when 'stream' is true.", 'stream_options');
    }
  }
  for (const field of ['max_tokens', 'max_completion_tokens', 'seed', 'n'] as const) {
    const value = record[field];
    if (value !== undefined && value !== null && (typeof value !== 'number' || !Number.isInteger(value))) {
      throw invalid(`'${field}' must be an integer, got ${typeName(value)}.`, field);
    }
  }
  for (const field of ['temperature', 'top_p'] as const) {
    const value = record[field];
    if (value !== undefined && value !== null && typeof value !== 'number') {
      throw invalid(`'${field}' must be a number, got ${typeName(value)}.`, field);
    }
  }
  return record as ChatCompletionRequest;
}
