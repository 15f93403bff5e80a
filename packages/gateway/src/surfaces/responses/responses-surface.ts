import { sendError } from '../../http/respond.js';
import type { Surface } from '../surface.js';
import { RESPONSES_EVENTS } from './responses-events.js';

/**
 * OpenAI Responses: OpenAI's error shape; SSE `id:` = `sequence_number` = spool id − 1, so a
 * client that has event N (`starting_after=N`, `Last-Event-ID: N`) resumes after spool id N + 1.
 */
export const RESPONSES_SURFACE: Surface = {
  name: 'responses',
  events: RESPONSES_EVENTS,
  spoolIdAfter: (clientEventId) => (clientEventId === undefined ? 0 : clientEventId + 1),
  sendError,
};
