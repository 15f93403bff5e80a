import type { ModelInfo } from '@spool/protocol';
import type { GatewayConfig, RouteConfig } from './config/schema.js';
import { AnthropicProvider } from './providers/anthropic-provider.js';
import { defaultOpenAIApis, OpenAIProvider } from './providers/openai-provider.js';
import type { ChatProvider } from './providers/provider.js';
import { SimProvider } from './providers/sim-provider.js';
import type { UpstreamTarget } from './upstream/upstream-chain.js';

/** Compiles a model pattern (`*` matches any run of characters) to a predicate. */
export function modelMatcher(pattern: string): (model: string) => boolean {
  if (!pattern.includes('*')) return (model) => model === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${source}$`);
  return (model) => regex.test(model);
}

/** Where one request goes: every target that can serve it, for weighted choice and failover. */
export interface ResolvedRoute {
  targets: UpstreamTarget[];
}

interface CompiledRule {
  route: RouteConfig;
  matches: (model: string) => boolean;
  providers: ChatProvider[];
}

/** Model routing: the first rule whose pattern matches the requested model wins. */
export class ModelRouter {
  readonly #rules: CompiledRule[];
  readonly providers: ReadonlyMap<string, ChatProvider>;
  /** What each provider listed the last time it answered. */
  readonly #lastListed = new Map<ChatProvider, ModelInfo[]>();

  constructor(routes: readonly RouteConfig[], providers: ReadonlyMap<string, ChatProvider>) {
    this.providers = providers;
    this.#rules = routes.map((route) => ({
      route,
      matches: modelMatcher(route.match),
      providers: targetsOf(route)
        .map((target) => providers.get(target.provider))
        .filter((provider): provider is ChatProvider => provider !== undefined),
    }));
  }

  /** The route for a model, or `undefined` when no rule matches. */
  resolve(model: string): ResolvedRoute | undefined {
    for (const { route, matches } of this.#rules) {
      if (!matches(model)) continue;
      const targets: UpstreamTarget[] = [];
      for (const target of targetsOf(route)) {
        const provider = this.providers.get(target.provider);
        if (provider)
          targets.push({ provider, weight: target.weight, upstreamModel: target.upstreamModel ?? model });
      }
      if (targets.length > 0) return { targets };
    }
    return undefined;
  }

  /**
   * The models to list: every exact rule, plus what each wildcard rule's providers list (filtered
   * by the pattern and not shadowed by an earlier rule). A provider that cannot be reached lists
   * what it listed last, so a picker does not lose its models while the upstream is down.
   */
  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    const seen = new Map<string, ModelInfo>();
    const listed = new Map<ChatProvider, Promise<ModelInfo[]>>();
    for (const { route, matches, providers } of this.#rules) {
      const owner = providers[0];
      if (!owner) continue;
      if (!route.match.includes('*')) {
        if (!seen.has(route.match))
          seen.set(route.match, { id: route.match, object: 'model', created: 0, owned_by: owner.name });
        continue;
      }
      for (const provider of providers) {
        let models = listed.get(provider);
        if (!models) {
          models = provider.listModels(signal).then(
            (fresh) => {
              this.#lastListed.set(provider, fresh);
              return fresh;
            },
            () => this.#lastListed.get(provider) ?? [],
          );
          listed.set(provider, models);
        }
        for (const model of await models) {
          if (matches(model.id) && !seen.has(model.id) && this.#firstRuleFor(model.id) === route)
            seen.set(model.id, model);
        }
      }
    }
    return [...seen.values()];
  }

  #firstRuleFor(model: string): RouteConfig | undefined {
    return this.#rules.find((rule) => rule.matches(model) && rule.providers.length > 0)?.route;
  }
}

/** A route's targets, whether written as one `provider` or as `targets`. */
function targetsOf(
  route: RouteConfig,
): Array<{ provider: string; weight: number; upstreamModel?: string | undefined }> {
  if (route.targets) return route.targets;
  return [{ provider: route.provider as string, weight: 1, upstreamModel: route.upstreamModel }];
}

/** Creates the providers a configuration names. */
export function createProviders(
  config: GatewayConfig,
  env: Readonly<Record<string, string | undefined>>,
): Map<string, ChatProvider> {
  const providers = new Map<string, ChatProvider>();
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.type === 'sim') {
      providers.set(
        name,
        new SimProvider({ name, ttftMs: provider.ttftMs, tokensPerSecond: provider.tokensPerSecond }),
      );
    } else if (provider.type === 'openai') {
      providers.set(
        name,
        new OpenAIProvider({
          name,
          baseURL: provider.baseURL,
          apiKey: provider.apiKey ?? (provider.apiKeyEnv ? env[provider.apiKeyEnv] : undefined),
          headers: provider.headers,
          passHeaders: provider.passHeaders,
          connections: provider.connections,
          connectTimeoutMs: provider.connectTimeoutMs,
          firstByteTimeoutMs: provider.firstByteTimeoutMs,
          idleTimeoutMs: provider.idleTimeoutMs,
          apis: provider.apis ?? defaultOpenAIApis(provider.baseURL),
          maxEventBytes: config.generation.maxEventBytes,
          maxAnswerBytes: config.generation.maxBytes,
        }),
      );
    } else {
      providers.set(
        name,
        new AnthropicProvider({
          name,
          baseURL: provider.baseURL,
          apiKey: provider.apiKey ?? env[provider.apiKeyEnv],
          anthropicVersion: provider.anthropicVersion,
          defaultMaxTokens: provider.defaultMaxTokens,
          headers: provider.headers,
          connections: provider.connections,
          connectTimeoutMs: provider.connectTimeoutMs,
          firstByteTimeoutMs: provider.firstByteTimeoutMs,
          idleTimeoutMs: provider.idleTimeoutMs,
          maxEventBytes: config.generation.maxEventBytes,
          maxAnswerBytes: config.generation.maxBytes,
        }),
      );
    }
  }
  return providers;
}
