import type { ChatRetryInfo, UseChatResult } from '@spool/react';
import { useEffect, useState } from 'react';
import { describeFailure, type NetworkFacts, type StatusTone } from './status-cause.js';

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

/** What the status bar shows: words, the code as detail, a tone and its icon. */
export interface StatusDescription {
  text: string;
  detail: string | undefined;
  tone: StatusTone;
  /** A glyph beside the words, so the tone is not told by colour alone. */
  icon: string;
}

const ICONS: Record<StatusTone, string> = { ok: '✓', busy: '●', waiting: '↻', offline: '⏸', error: '!' };

/** The status line for a state: the cause in words first, then what happens next. */
function describeStatus(
  status: UseChatResult['status'],
  retryInfo: ChatRetryInfo | undefined,
  error: UseChatResult['error'],
  secondsLeft: number,
  facts: NetworkFacts,
): StatusDescription {
  const tone: StatusTone =
    status === 'offline'
      ? 'offline'
      : status === 'error'
        ? 'error'
        : status === 'reconnecting'
          ? 'waiting'
          : status === 'connecting' || status === 'streaming'
            ? 'busy'
            : 'ok';
  const of = (text: string, detail?: string): StatusDescription => ({
    text,
    detail,
    tone,
    icon: ICONS[tone],
  });
  switch (status) {
    case 'connecting':
      return of('Connecting…');
    case 'streaming':
      return of('Streaming');
    case 'reconnecting': {
      if (!retryInfo) return of('Reconnecting…');
      const cause = describeFailure(retryInfo.reason, facts);
      const next =
        secondsLeft > 0
          ? `Reconnecting in ${secondsLeft} s — attempt ${retryInfo.attempt}`
          : `Reconnecting now — attempt ${retryInfo.attempt}`;
      return of(`${cause.text} · ${next}`, cause.detail);
    }
    case 'offline':
      return of('Offline — the answer resumes when the connection returns');
    case 'error': {
      if (!error) return of('The answer failed');
      const cause = describeFailure(error, facts);
      return of(cause.text, cause.detail);
    }
    case 'done':
      return of('Done');
    default:
      return of('Ready');
  }
}

/** Connection status (announced politely to screen readers), stats badge and the Retry button. */
export function StatusBar({ chat, facts }: { chat: UseChatResult; facts: NetworkFacts }) {
  const secondsLeft = useSecondsUntil(chat.retryInfo?.nextRetryAt);
  const stats = chat.stats;
  const shown = describeStatus(chat.status, chat.retryInfo, chat.error, secondsLeft, facts);
  return (
    <div
      className="status-bar"
      data-status={chat.status}
      data-tone={shown.tone}
      data-stream-id={chat.streamId ?? ''}
      data-slow-network={chat.slowNetwork ? 'true' : 'false'}
    >
      <p className="status" role="status" aria-live="polite">
        <span className={`status-icon tone-${shown.tone}`} aria-hidden="true">
          {shown.icon}
        </span>
        <span className="status-text">{shown.text}</span>
        {shown.detail ? <span className="status-detail">({shown.detail})</span> : null}
        {chat.slowNetwork ? (
          <span
            className="status-detail slow-network"
            title="This network holds streamed answers back until they end, so the answer is fetched in small batches (long-poll)."
          >
            · slow network mode
          </span>
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
