import type { ApiName } from './api-name.js';
import { CHAT_SURFACE } from './chat/chat-surface.js';
import { MESSAGES_SURFACE } from './messages/messages-surface.js';
import { RESPONSES_SURFACE } from './responses/responses-surface.js';
import type { Surface } from './surface.js';

/** Every surface the gateway serves, by name: the one place a new surface is registered. */
const SURFACES: Partial<Record<ApiName, Surface>> = {
  chat: CHAT_SURFACE,
  responses: RESPONSES_SURFACE,
  messages: MESSAGES_SURFACE,
};

/** The surface a stream was created on (`StreamMeta.surface`; streams without one are chat's). */
export function surfaceOf(name: ApiName | undefined): Surface {
  return (name === undefined ? undefined : SURFACES[name]) ?? CHAT_SURFACE;
}
