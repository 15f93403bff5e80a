import { sendError } from '../../http/respond.js';
import type { Surface } from '../surface.js';
import { CHAT_EVENTS } from './chat-events.js';

/** OpenAI Chat Completions: OpenAI's error shape; SSE `id:` is the spool id, resumed as it is. */
export const CHAT_SURFACE: Surface = {
  name: 'chat',
  events: CHAT_EVENTS,
  spoolIdAfter: (clientEventId) => clientEventId ?? 0,
  sendError,
};
