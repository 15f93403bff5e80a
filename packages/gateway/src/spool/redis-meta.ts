import type { ApiName } from '../surfaces/api-name.js';
import type { StreamMeta, StreamState } from './store.js';

/** Writes a stream's metadata as the fields of its Redis hash, leaving out what is undefined. */
export function serializeMeta(meta: StreamMeta): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(meta)) {
    if (value === undefined) continue;
    if (name === 'lost') {
      if (value === true) fields.lost = '1';
      continue;
    }
    fields[name] = name === 'failure' ? JSON.stringify(value) : String(value);
  }
  return fields;
}

/** Reads a stream's metadata back from the fields of its Redis hash. */
export function deserializeMeta(fields: Record<string, string>): StreamMeta {
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    id: fields.id ?? '',
    ownerId: fields.ownerId ?? '',
    idempotencyKey: fields.idempotencyKey,
    bodyHash: fields.bodyHash,
    model: fields.model ?? '',
    createdAt: number(fields.createdAt) ?? 0,
    state: (fields.state ?? 'pending') as StreamState,
    endedAt: number(fields.endedAt),
    failure: fields.failure ? JSON.parse(fields.failure) : undefined,
    instanceId: fields.instanceId,
    lost: fields.lost === '1' ? true : undefined,
    firstId: number(fields.firstId),
    lastId: number(fields.lastId),
    ...(fields.surface === undefined ? {} : { surface: fields.surface as ApiName }),
    ...(fields.surfaceData === undefined ? {} : { surfaceData: fields.surfaceData }),
  };
}
