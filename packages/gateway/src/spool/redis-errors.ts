import { SpoolReadError, StoreUnavailableError } from './store.js';

/** Runs a Redis operation, turning any failure but a read error into a `StoreUnavailableError` (503). */
export async function runRedis<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof SpoolReadError) throw error;
    throw new StoreUnavailableError(`Redis is unavailable: ${(error as Error).message}`, { cause: error });
  }
}

/** Wraps a Redis failure as a `StoreUnavailableError`, passing one through unchanged. */
export function unavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  return new StoreUnavailableError(`Redis is unavailable: ${(error as Error).message}`, { cause: error });
}
