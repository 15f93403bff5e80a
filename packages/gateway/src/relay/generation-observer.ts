import type { Usage } from '@spool/protocol';

/** What a generation reports as it goes, for usage, limits and metrics. */
export interface GenerationObserver {
  /** The first content (or tool-call) delta was stored. */
  onFirstToken?(): void;
  /** The upstream reported usage. */
  onUsage?(usage: Usage): void;
  /** The generation ended; `contentDeltas` estimates completion tokens when no usage came. */
  onEnd?(outcome: 'done' | 'error' | 'cancelled', info: { contentDeltas: number }): void;
}
