import type { ServerResponse } from 'node:http';
import type { OpenAIErrorBody } from '@spool/protocol';
import type { GatewayError } from '../../errors.js';
import { errorHeaders, sendJson } from '../../http/respond.js';

/** Anthropic's error body (https://docs.anthropic.com/en/api/errors). */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

/** The error types Anthropic's API answers with. */
type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Anthropic's status for "overloaded, come back later"; its SDKs retry it like a 5xx. */
const OVERLOADED_STATUS = 529;

/**
 * The status a Messages client gets for a gateway status: a 503 (Spool saturated, every upstream
 * overloaded, the gateway draining, the store away) is Anthropic's 529 `overloaded_error`; the rest
 * keep their status.
 */
export function anthropicStatus(status: number): number {
  return status === 503 ? OVERLOADED_STATUS : status;
}

/** Anthropic's error type for a (gateway) status. */
function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case OVERLOADED_STATUS:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/**
 * An OpenAI-shaped error body in Anthropic's shape. Spool's code and param, which Anthropic's shape
 * has no field for, are kept in the message so that nothing a client needs is lost.
 */
export function anthropicErrorBody(status: number, body: OpenAIErrorBody): AnthropicErrorBody {
  const { message, code, param } = body.error;
  const details = [code ? `code: ${code}` : '', param ? `param: ${param}` : ''].filter(Boolean).join(', ');
  return {
    type: 'error',
    error: {
      type: anthropicErrorType(status),
      message: details === '' ? message : `${message} (${details})`,
    },
  };
}

/** Sends a gateway error in Anthropic's shape and status, with `retry-after` when it has one. */
export function sendAnthropicError(
  response: ServerResponse,
  error: GatewayError,
  headers: Record<string, string> = {},
): void {
  const body = anthropicErrorBody(error.status, error.body);
  sendJson(response, anthropicStatus(error.status), body, errorHeaders(response, error, headers));
}
