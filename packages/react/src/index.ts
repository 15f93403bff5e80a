export { type ChatStore, createChatStore } from './chat-store.js';
export type {
  ChatMessage,
  ChatMessageState,
  ChatRetryInfo,
  ChatState,
  ChatStatus,
  ChatStoreOptions,
  SendOptions,
  StorageLike,
} from './chat-types.js';
export { type UseChatResult, useChat } from './use-chat.js';
