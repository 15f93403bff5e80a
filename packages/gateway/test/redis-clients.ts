import { type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

/** A redis-server and a connection to it that looks on, for the tests of one `describe` block. */
export interface WatchedRedis {
  readonly server: RedisServer;
  readonly admin: Redis;
}

/** Starts a redis-server and an admin connection before the block's tests; stops both after them. */
export function useWatchedRedis(): WatchedRedis {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the redis-server starts in beforeAll');
      return server;
    },
    get admin() {
      if (!admin) throw new Error('the admin connection opens in beforeAll');
      return admin;
    },
  };
}

/** The names (`CLIENT SETNAME`) of the clients connected to a Redis besides `admin`, sorted. */
export async function clientNames(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  const own = String(await admin.client('ID'));
  return list
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith(`id=${own} `))
    .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
    .sort();
}

/** How many QUITs a Redis has answered since its stats were last reset (`CONFIG RESETSTAT`). */
export async function quitCount(admin: Redis): Promise<number> {
  const stats = (await admin.info('commandstats')) as string;
  return Number(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}
