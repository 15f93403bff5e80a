export * from './chat-persistence.js';
export * from './chat-store.js';
export * from './chat-types.js';
export * from './use-chat.js';
