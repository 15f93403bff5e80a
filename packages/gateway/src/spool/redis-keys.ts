/** Names of the Redis keys and pub/sub channels of one deployment's spool, all under one prefix. */
export class RedisKeys {
  readonly #prefix: string;

  /** @param prefix Prefix of every key, so several deployments can share one Redis. */
  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** The hash holding a stream's metadata. */
  meta(streamId: string): string {
    return `${this.#prefix}s:${streamId}:meta`;
  }

  /** The Redis Stream holding a stream's events, entry `0-<event id>` per event. */
  events(streamId: string): string {
    return `${this.#prefix}s:${streamId}:events`;
  }

  /** The channel a writer publishes on after each batch of a stream's writes. */
  notifyChannel(streamId: string): string {
    return `${this.#prefix}s:${streamId}:notify`;
  }

  /** The channel every instance listens on for cancel requests. */
  cancelChannel(): string {
    return `${this.#prefix}cancel`;
  }

  /** The prefix every stream's keys start with (`<prefix><stream id>:meta`, …). */
  streamPrefix(): string {
    return `${this.#prefix}s:`;
  }

  /** The key an instance keeps alive (with a TTL) while it runs; its streams are lost once it expires. */
  instance(instanceId: string): string {
    return `${this.instancePrefix()}${instanceId}`;
  }

  /** The prefix of every instance's liveness key. */
  instancePrefix(): string {
    return `${this.#prefix}instance:`;
  }

  /** The index from an owner's idempotency key to the stream it created. */
  idempotency(ownerId: string, key: string): string {
    // The owner's length keeps `a:b` + `c` apart from `a` + `b:c`.
    return `${this.#prefix}idem:${ownerId.length}:${ownerId}:${key}`;
  }

  /** The stream a notify channel belongs to, or undefined when `channel` is not a notify channel. */
  streamOfNotifyChannel(channel: string): string | undefined {
    const prefix = `${this.#prefix}s:`;
    if (channel.startsWith(prefix) && channel.endsWith(':notify')) {
      return channel.slice(prefix.length, -':notify'.length);
    }
    return undefined;
  }
}
