import { MemoryReader, type MemoryRecord, type MemoryRecordSource } from './memory-reader.js';
import { PackedEvents } from './packed-events.js';
import {
  type CreateResult,
  type SpoolLimits,
  SpoolReadError,
  type SpoolReader,
  type SpoolStore,
  type StreamMeta,
} from './store.js';

/** Options of the in-process store. */
export interface MemoryStoreOptions extends SpoolLimits {
  /** The clock, injectable for tests. @default Date.now */
  now?: () => number;
  /** How long an expired id keeps answering 410 rather than 404. @default 86400000 (a day) */
  tombstoneMs?: number;
  /** How often expired streams are swept; 0 disables the timer (call `sweep` yourself). @default 10000 */
  sweepIntervalMs?: number;
  /**
   * What all streams may hold together (their events, plus `RECORD_OVERHEAD_BYTES` each); past it,
   * finished streams are dropped oldest first, before their retention ends. @default 268435456 (256 MiB)
   */
  maxTotalBytes?: number;
}

const MAX_TOMBSTONES = 100_000;
/** Roughly what a stream's record, metadata and map entries cost besides its events. */
export const RECORD_OVERHEAD_BYTES = 1024;

/** The embedded spool: streams live in this process's memory, bounded by retention and a byte cap. */
export class MemoryStore implements SpoolStore {
  readonly kind = 'memory';
  readonly #records = new Map<string, MemoryRecord>();
  /**
   * The ended streams in the order they ended, so that a sweep or an eviction finds the oldest
   * first and stops at the first it keeps, instead of walking every stream.
   */
  readonly #ended = new Map<string, MemoryRecord>();
  /** Events plus `RECORD_OVERHEAD_BYTES` per stream, over every stream held. */
  #totalBytes = 0;
  readonly #byIdempotencyKey = new Map<string, string>();
  readonly #tombstones = new Map<string, number>();
  readonly #options: Required<MemoryStoreOptions>;
  readonly #timer: NodeJS.Timeout | undefined;
  #cancelHandler: (streamId: string) => void = () => {};
  readonly #source: MemoryRecordSource = {
    lookup: (streamId) => this.#records.get(streamId) ?? this.#missing(streamId),
  };

  constructor(options: MemoryStoreOptions) {
    this.#options = {
      now: Date.now,
      tombstoneMs: 86_400_000,
      sweepIntervalMs: 10_000,
      maxTotalBytes: 256 * 1024 * 1024,
      ...options,
    };
    if (this.#options.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => this.sweep(), this.#options.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  async create(meta: StreamMeta): Promise<CreateResult> {
    if (meta.idempotencyKey !== undefined) {
      const indexKey = idempotencyIndexKey(meta.ownerId, meta.idempotencyKey);
      const existingId = this.#byIdempotencyKey.get(indexKey);
      const existing = existingId === undefined ? undefined : this.#records.get(existingId);
      if (existing) return { created: false, meta: existing.meta };
      this.#byIdempotencyKey.set(indexKey, meta.id);
    }
    this.#records.set(meta.id, {
      meta: { ...meta },
      events: [],
      packed: undefined,
      firstId: 1,
      bytes: 0,
      ended: false,
      wakers: undefined,
    });
    this.#totalBytes += RECORD_OVERHEAD_BYTES;
    return { created: true, meta };
  }

  async commit(streamId: string): Promise<void> {
    const record = this.#records.get(streamId);
    if (record && record.meta.state === 'pending') record.meta.state = 'streaming';
  }

  async fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void> {
    const record = this.#records.get(streamId);
    if (!record) return;
    record.meta.failure = failure;
    record.meta.state = 'error';
    record.meta.endedAt = this.#options.now();
    record.ended = true;
    this.#unindex(record.meta);
    wake(record);
    this.#retire(streamId, record);
  }

  append(streamId: string, firstId: number, events: readonly string[]): Promise<void> | undefined {
    const record = this.#records.get(streamId);
    if (!record || record.ended) return undefined;
    const expected = record.firstId + record.events.length;
    if (firstId !== expected) {
      return Promise.reject(
        new Error(`spool: event ${firstId} appended to ${streamId}, expected ${expected}`),
      );
    }
    const bytesBefore = record.bytes;
    for (const bytes of events) record.bytes += bytes.length;
    // The first batch as a copy of its own size: pushed one by one onto [], V8 reserves room for
    // seventeen events, which a stream that goes idle after a few keeps for its whole life.
    if (record.events.length === 0) record.events = events.slice();
    else for (const bytes of events) record.events.push(bytes);
    // Evict from the front, never the newest event, so live readers always get what is new.
    while (record.bytes > this.#options.maxStreamBytes && record.events.length > 1) {
      record.bytes -= (record.events.shift() as string).length;
      record.firstId++;
    }
    this.#totalBytes += record.bytes - bytesBefore;
    wake(record);
    return undefined;
  }

  async finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void> {
    const record = this.#records.get(streamId);
    if (!record || record.ended) return;
    record.ended = true;
    record.meta.state = state;
    record.meta.endedAt = this.#options.now();
    record.meta.lastId = record.firstId + record.events.length - 1;
    wake(record);
    record.packed = PackedEvents.pack(record.events);
    record.events = [];
    this.#retire(streamId, record);
  }

  async getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined> {
    const record = this.#records.get(streamId);
    if (record) return { ...record.meta, firstId: record.firstId };
    return this.#tombstones.has(streamId) ? 'expired' : undefined;
  }

  read(streamId: string, afterId: number): SpoolReader {
    return new MemoryReader(this.#source, streamId, afterId);
  }

  async forget(streamId: string): Promise<void> {
    const record = this.#ended.get(streamId);
    if (!record) return;
    this.#drop(streamId, record, this.#options.now());
    this.#tombstones.delete(streamId);
  }

  async requestCancel(streamId: string): Promise<void> {
    this.#cancelHandler(streamId);
  }

  onCancelRequest(handler: (streamId: string) => void): void {
    this.#cancelHandler = handler;
  }

  async ping(): Promise<void> {}

  /** Drops streams whose retention has passed, keeping a tombstone so they answer 410. */
  sweep(now = this.#options.now()): void {
    for (const [id, record] of this.#ended) {
      const endedAt = record.meta.endedAt ?? 0;
      if (now - endedAt < this.#options.retentionMs) break;
      this.#drop(id, record, now);
    }
    for (const [id, expiredAt] of this.#tombstones) {
      if (now - expiredAt < this.#options.tombstoneMs && this.#tombstones.size <= MAX_TOMBSTONES) break;
      this.#tombstones.delete(id);
    }
  }

  /** What every stream holds together (events plus `RECORD_OVERHEAD_BYTES` each), for metrics and tests. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** How many streams are held (for metrics and tests). */
  get size(): number {
    return this.#records.size;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const record of this.#records.values()) wake(record);
  }

  /**
   * Queues an ended stream for its sweep and, past `maxTotalBytes`, drops the streams that ended
   * longest ago. Streams still running are never dropped: each is bounded by `maxStreamBytes`.
   */
  #retire(streamId: string, record: MemoryRecord): void {
    this.#ended.set(streamId, record);
    if (this.#totalBytes <= this.#options.maxTotalBytes) return;
    const now = this.#options.now();
    for (const [id, oldest] of this.#ended) {
      if (this.#totalBytes <= this.#options.maxTotalBytes) break;
      this.#drop(id, oldest, now);
    }
  }

  /** Forgets an ended stream; its id answers 410 (expired) while its tombstone lasts. */
  #drop(streamId: string, record: MemoryRecord, now: number): void {
    this.#records.delete(streamId);
    this.#ended.delete(streamId);
    this.#totalBytes -= record.bytes + RECORD_OVERHEAD_BYTES;
    this.#unindex(record.meta);
    this.#tombstones.set(streamId, now);
    wake(record);
  }

  #unindex(meta: StreamMeta): void {
    if (meta.idempotencyKey === undefined) return;
    const indexKey = idempotencyIndexKey(meta.ownerId, meta.idempotencyKey);
    if (this.#byIdempotencyKey.get(indexKey) === meta.id) this.#byIdempotencyKey.delete(indexKey);
  }

  #missing(streamId: string): SpoolReadError {
    return this.#tombstones.has(streamId)
      ? new SpoolReadError(
          'expired',
          `Stream ${streamId} has expired (spool.retentionMs) or was dropped for room (spool.maxMemoryBytes)`,
        )
      : new SpoolReadError('not_found', `No stream with id ${streamId}`);
  }
}

function idempotencyIndexKey(ownerId: string, key: string): string {
  return `${ownerId}\u0000${key}`;
}

function wake(record: MemoryRecord): void {
  const wakers = record.wakers;
  if (wakers === undefined) return;
  record.wakers = undefined;
  for (const reader of wakers) reader.wake();
}
