import { type AddressInfo, createServer, type Socket } from 'node:net';
import { TestkitError } from './errors.js';
import { type FaultPlan, faultsForConnection, planConnection } from './fault-plan.js';
import { describeFault } from './faults.js';
import { type ConnectionStats, ProxyConnection, type TargetAddress } from './proxy-connection.js';
import type { ProxyEvent, ProxyEventType } from './proxy-events.js';

/** Options of {@link createFaultProxy}. */
export interface FaultProxyOptions {
  /** Where connections are forwarded. */
  target: TargetAddress;
  /** Where the proxy listens. @default { host: '127.0.0.1', port: 0 } (a free port) */
  listen?: { host?: string; port?: number };
  /** Faults for every connection, or a function of the connection index. @default [] (a clean pipe) */
  plan?: FaultPlan;
  /** Called synchronously for every connection, fault and close. @default undefined */
  onEvent?: (event: ProxyEvent) => void;
  /** How many finished connections {@link FaultProxy.connections} keeps, oldest dropped first. @default 1000 */
  keepConnections?: number;
}

/** Running totals of a {@link FaultProxy}. */
export interface FaultProxyStats {
  /** Connections accepted (refused ones included). */
  connections: number;
  /** Connections open now. */
  active: number;
  cuts: number;
  stalls: number;
  refused: number;
  /** Bytes forwarded client → target. */
  bytesUp: number;
  /** Bytes forwarded target → client. */
  bytesDown: number;
}

/** A running fault-injecting TCP proxy. */
export interface FaultProxy {
  /** The port it listens on. */
  readonly port: number;
  /** Where it listens. */
  readonly address: TargetAddress;
  /** `http://host:port`, since most targets here speak HTTP; build other URLs from `address`. */
  readonly url: string;
  /** A snapshot of the totals. */
  readonly stats: FaultProxyStats;
  /** Live per-connection stats, oldest first (bounded by `keepConnections`). */
  readonly connections: readonly ConnectionStats[];
  /** Replaces the plan for connections accepted from now on; open ones keep theirs. */
  setPlan(plan: FaultPlan | undefined): void;
  /**
   * Resolves with the next event of `type` (matching `predicate` if given) that happens after the
   * call; rejects if the proxy closes first. Call it before causing the event.
   */
  waitForEvent<Type extends ProxyEventType>(
    type: Type,
    predicate?: (event: Extract<ProxyEvent, { type: Type }>) => boolean,
  ): Promise<Extract<ProxyEvent, { type: Type }>>;
  /** Stops listening, destroys every socket, clears every timer; resolves when all are closed. */
  close(): Promise<void>;
}

interface Waiter {
  type: ProxyEventType;
  predicate: ((event: never) => boolean) | undefined;
  resolve: (event: ProxyEvent) => void;
  reject: (error: Error) => void;
}

/**
 * Starts a TCP proxy to `target` that injects faults into connections (like toxiproxy): cuts at an
 * exact byte, stalls, delays, throttles, refusals. Backpressure is honoured both ways.
 *
 * @example
 * const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: gatewayPort }, plan: [cutAfterBytes(200)] });
 * await fetch(`${proxy.url}/v1/chat/completions`, …); // the response stops after 200 bytes
 * await proxy.close();
 */
export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const listenHost = options.listen?.host ?? '127.0.0.1';
  const listenPort = options.listen?.port ?? 0;
  const keepConnections = options.keepConnections ?? 1000;
  let plan = options.plan;
  let closing = false;
  const totals: FaultProxyStats = {
    connections: 0,
    active: 0,
    cuts: 0,
    stalls: 0,
    refused: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  const history: ConnectionStats[] = [];
  const open = new Set<ProxyConnection>();
  const waiters = new Set<Waiter>();

  const emit = (event: ProxyEvent): void => {
    if (event.type === 'cut') totals.cuts += 1;
    if (event.type === 'stall') totals.stalls += 1;
    if (event.type === 'refuse') totals.refused += 1;
    options.onEvent?.(event);
    for (const waiter of waiters) {
      if (waiter.type !== event.type) continue;
      if (waiter.predicate && !waiter.predicate(event as never)) continue;
      waiters.delete(waiter);
      waiter.resolve(event);
    }
  };

  const accept = (client: Socket): void => {
    if (closing) {
      client.destroy();
      return;
    }
    const index = totals.connections;
    totals.connections += 1;
    totals.active += 1;
    const info = { index, remoteAddress: client.remoteAddress, remotePort: client.remotePort };
    const faults = faultsForConnection(plan, info);
    const stats = {
      ...info,
      faults: faults.map(describeFault),
      bytesUp: 0,
      bytesDown: 0,
      writesUp: 0,
      writesDown: 0,
      stalls: 0,
      cut: false,
      refused: false,
      closed: false,
    } as ConnectionStats;
    history.push(stats);
    if (history.length > keepConnections) {
      const dropAt = history.findIndex((entry) => entry.closed);
      if (dropAt !== -1) history.splice(dropAt, 1);
    }
    const connection = new ProxyConnection(stats, client, options.target, planConnection(faults), {
      emit,
      forwarded: (direction, bytes) => {
        if (direction === 'up') totals.bytesUp += bytes;
        else totals.bytesDown += bytes;
      },
    });
    open.add(connection);
    void connection.closed.then(() => {
      open.delete(connection);
      totals.active -= 1;
    });
    connection.start();
  };

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new TestkitError(
          'listen_failed',
          `fault proxy could not listen on ${listenHost}:${listenPort}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(listenPort, listenHost, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = listenHost.includes(':') ? `[${listenHost}]` : listenHost;

  return {
    port,
    address: { host: listenHost, port },
    url: `http://${urlHost}:${port}`,
    get stats() {
      return { ...totals };
    },
    get connections() {
      return history;
    },
    setPlan(nextPlan) {
      plan = nextPlan;
    },
    waitForEvent(type, predicate) {
      if (closing) return Promise.reject(new TestkitError('proxy_closed', 'the fault proxy is closed'));
      return new Promise((resolve, reject) => {
        waiters.add({ type, predicate, resolve: resolve as (event: ProxyEvent) => void, reject });
      });
    },
    async close() {
      if (!closing) {
        closing = true;
        for (const waiter of waiters)
          waiter.reject(
            new TestkitError('proxy_closed', `the fault proxy closed before a '${waiter.type}' event`),
          );
        waiters.clear();
      }
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of open) connection.destroy();
      await Promise.all([serverClosed, ...[...open].map((connection) => connection.closed)]);
    },
  };
}
