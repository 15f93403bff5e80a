/**
 * What the request bodies being received hold right now: bytes across the whole gateway, and
 * uploads per key. A pure count; `readBody` takes from it and gives back.
 */
export class BodyBudget {
  /** The most bytes all bodies being received may hold together. */
  readonly limitBytes: number;
  #heldBytes = 0;
  readonly #uploads = new Map<string, number>();

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /** Bytes held now by bodies being received. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Takes `bytes` from the budget; false, with nothing taken, when they do not fit. */
  tryHold(bytes: number): boolean {
    if (this.#heldBytes + bytes > this.limitBytes) return false;
    this.#heldBytes += bytes;
    return true;
  }

  /** Gives back bytes taken with `tryHold`. */
  release(bytes: number): void {
    this.#heldBytes = Math.max(0, this.#heldBytes - bytes);
  }

  /** The bodies a key is uploading now. */
  uploadsOf(keyId: string): number {
    return this.#uploads.get(keyId) ?? 0;
  }

  /** Counts one more upload for a key; false, with nothing counted, when it already has `max`. */
  tryStartUpload(keyId: string, max: number | undefined): boolean {
    const uploads = this.uploadsOf(keyId);
    if (max !== undefined && uploads >= max) return false;
    this.#uploads.set(keyId, uploads + 1);
    return true;
  }

  /** Ends an upload counted with `tryStartUpload`. */
  endUpload(keyId: string): void {
    const uploads = this.uploadsOf(keyId) - 1;
    if (uploads > 0) this.#uploads.set(keyId, uploads);
    else this.#uploads.delete(keyId);
  }
}
