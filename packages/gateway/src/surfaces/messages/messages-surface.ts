import type { Surface } from '../surface.js';
import { sendAnthropicError } from './anthropic-errors.js';
import { MessagesEvents } from './messages-events.js';

/**
 * Anthropic Messages: Anthropic's error shape and statuses; SSE `id:` is the spool id (1, 2, …)
 * beside Anthropic's `event:` lines, resumed as it is.
 */
export const MESSAGES_SURFACE: Surface = {
  name: 'messages',
  // Shared for serving (it only encodes errors there); each generation gets its own.
  events: new MessagesEvents(),
  spoolIdAfter: (clientEventId) => clientEventId ?? 0,
  sendError: sendAnthropicError,
};
