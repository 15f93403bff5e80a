import { builtinEnvironments, type Environment } from 'vitest/runtime';

const happyDom = builtinEnvironments['happy-dom'];

/** Node's networking globals, which happy-dom would replace with its own same-origin-checking fetch. */
const NODE_NETWORK_GLOBALS = [
  'fetch',
  'Request',
  'Response',
  'Headers',
  'AbortController',
  'AbortSignal',
  'URL',
  'URLSearchParams',
] as const;

/**
 * `// @vitest-environment happy-dom-node`: happy-dom's DOM, storage and events, with Node's fetch and
 * module transform. The hook talks to a real gateway on another port, so the page's fetch must not
 * apply the same-origin policy (a browser would need CORS; the browser tests cover the served page),
 * and the gateway started in-process resolves files with `new URL(…, import.meta.url)`, which Vite's
 * client transform would rewrite into page URLs.
 */
const environment: Environment = {
  ...happyDom,
  name: 'happy-dom-node',
  viteEnvironment: 'ssr',
  async setup(global, options) {
    const saved = NODE_NETWORK_GLOBALS.map((name) => [name, global[name]] as const);
    const result = await happyDom.setup(global, options);
    for (const [name, value] of saved) global[name] = value;
    return result;
  },
};

export default environment;
