import type { SendOptions, UseChatResult } from '@spool/react';

/** A fault armed for the next message. */
export interface ArmedDrill {
  label: string;
  options: SendOptions;
}

function faultKey(): string {
  return `drill-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The network drills, each as the request options it arms. */
const DRILLS: ReadonlyArray<{ id: string; label: string; make: () => SendOptions }> = [
  {
    id: 'cut',
    label: 'Cut the connection after 8 events',
    make: () => ({ headers: { 'x-spool-fault': 'client-cut-after=8' } }),
  },
  {
    id: 'stall',
    label: 'Stall after 8 events (3 s watchdog)',
    make: () => ({ headers: { 'x-spool-fault': 'client-stall-after=8' }, idleTimeoutMs: 3000 }),
  },
  {
    id: '503',
    label: 'Fail the next request: 503, Retry-After 2 s',
    make: () => ({ headers: { 'x-spool-fault': `status=503;retry-after=2;times=1;key=${faultKey()}` } }),
  },
  {
    id: '429',
    label: 'Rate-limit the next request: 429, Retry-After 2 s',
    make: () => ({ headers: { 'x-spool-fault': `status=429;retry-after=2;times=1;key=${faultKey()}` } }),
  },
];

/**
 * Faults on demand against the built-in simulator (dev mode): the gateway cuts or stalls this page's
 * connection, or fails the request before its first byte; or the page drops its own connection.
 */
export function DrillPanel({
  chat,
  armed,
  onArm,
  onCut,
}: {
  chat: UseChatResult;
  armed: ArmedDrill | undefined;
  onArm: (drill: ArmedDrill | undefined) => void;
  /** Drops the page's connection under way (see cuttable-fetch.ts). */
  onCut: () => void;
}) {
  return (
    <details className="drill">
      <summary>Network drill</summary>
      <div className="drill-body">
        <p className="hint">Arm a fault for the next message, or cut the answer under way.</p>
        <div className="drill-buttons">
          {DRILLS.map((drill) => (
            <button
              key={drill.id}
              type="button"
              className="button"
              data-drill={drill.id}
              aria-pressed={armed?.label === drill.label}
              onClick={() =>
                onArm(
                  armed?.label === drill.label ? undefined : { label: drill.label, options: drill.make() },
                )
              }
            >
              {drill.label}
            </button>
          ))}
          <button
            type="button"
            className="button"
            data-drill="client-cut"
            disabled={!chat.isBusy}
            onClick={onCut}
          >
            Cut now (this page drops its connection)
          </button>
        </div>
        <p className="hint" aria-live="polite">
          {armed ? `Armed for the next message: ${armed.label}.` : 'Nothing armed.'}
        </p>
      </div>
    </details>
  );
}
