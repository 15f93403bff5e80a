import type { ChatRetryInfo, UseChatResult } from '@spool/react';
import { useEffect, useState } from 'react';

/** Whole seconds until `at`, re-rendered a few times a second while a retry is pending. */
function useSecondsUntil(at: number | undefined): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (at === undefined) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [at]);
  return at === undefined ? 0 : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The status line's words for a state. */
export function describeStatus(
  status: UseChatResult['status'],
  retryInfo: ChatRetryInfo | undefined,
  secondsLeft: number,
): string {
  switch (status) {
    case 'connecting':
      return 'Connecting…';
    case 'streaming':
      return 'Streaming';
    case 'reconnecting':
      return retryInfo
        ? secondsLeft > 0
          ? `Reconnecting in ${secondsLeft} s — attempt ${retryInfo.attempt}`
          : `Reconnecting now — attempt ${retryInfo.attempt}`
        : 'Reconnecting…';
    case 'offline':
      return 'Offline — the answer resumes when the connection returns';
    case 'error':
      return 'The answer failed';
    case 'done':
      return 'Done';
    default:
      return 'Ready';
  }
}

/** Connection status (announced politely to screen readers), stats badge and the Retry button. */
export function StatusBar({ chat }: { chat: UseChatResult }) {
  const secondsLeft = useSecondsUntil(chat.retryInfo?.nextRetryAt);
  const stats = chat.stats;
  return (
    <div className="status-bar" data-status={chat.status} data-stream-id={chat.streamId ?? ''}>
      <p className="status" role="status" aria-live="polite">
        <span className={`dot dot-${chat.status}`} aria-hidden="true" />
        <span className="status-text">{describeStatus(chat.status, chat.retryInfo, secondsLeft)}</span>
        {chat.status === 'error' && chat.error ? (
          <span className="status-detail"> ({chat.error.code})</span>
        ) : null}
      </p>
      {chat.status === 'error' ? (
        <button type="button" className="button" onClick={() => void chat.retry()}>
          Retry
        </button>
      ) : null}
      {stats && stats.timeToFirstTokenMs !== undefined ? (
        <p className="badge">
          <span className="visually-hidden">Stream statistics: </span>
          <span title="Time to first token">TTFT {Math.round(stats.timeToFirstTokenMs)} ms</span>
          <span title="Tokens per second">{stats.tokensPerSecond.toFixed(1)} tok/s</span>
          {stats.reconnects > 0 ? (
            <span title="Reconnections during this answer">↻ {stats.reconnects}</span>
          ) : null}
        </p>
      ) : null}
    </div>
  );
}
