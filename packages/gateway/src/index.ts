export { Authenticator, type Caller, isLoopback } from './auth.js';
export { ConfigError, type ConfigSources, loadConfig, parseConfig } from './config/load-config.js';
export type {
  GatewayConfig,
  GatewayConfigInput,
  KeyConfig,
  ProviderConfig,
  RouteConfig,
} from './config/schema.js';
export { GatewayError, UpstreamError } from './errors.js';
export { type FaultSpec, FaultSpecError, parseFaultSpec } from './faults/fault-spec.js';
export { type Gateway, type StartGatewayOptions, startGateway } from './gateway.js';
export { GatewayMetrics } from './metrics.js';
export { AnthropicProvider, type AnthropicProviderOptions } from './providers/anthropic-provider.js';
export { OpenAIProvider, type OpenAIProviderOptions } from './providers/openai-provider.js';
export type {
  ChatProvider,
  CompletionResult,
  ProviderCallContext,
  UpstreamEvent,
} from './providers/provider.js';
export { SIM_MODELS, SimProvider, type SimProviderOptions } from './providers/sim-provider.js';
export { simChunks, simCompletion } from './sim/sim-response.js';
export { type SimServer, type SimServerOptions, startSimServer } from './sim/sim-server.js';
export { simText, simTokens } from './sim/sim-text.js';
export { MemoryStore, type MemoryStoreOptions } from './spool/memory-store.js';
export type { CreateResult, SpoolReader, SpoolStore, StreamMeta, StreamState } from './spool/store.js';
