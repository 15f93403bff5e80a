import { describe, expect, it } from 'vitest';
import { ResumePlanner } from './resume-planner.js';

const makePlanner = (resumable = true) => {
  let keys = 0;
  return new ResumePlanner({
    url: 'https://gw/v1/chat/completions',
    method: 'POST',
    body: '{}',
    resumeUrl: resumable ? (id) => `https://gw/v1/streams/${id}` : undefined,
    idempotency: true,
    generateKey: () => `key-${++keys}`,
  });
};

describe('ResumePlanner', () => {
  it('attaches to a known stream from the first request: GET with Last-Event-ID, no idempotency key', () => {
    const planner = new ResumePlanner({
      url: 'https://gw/v1/streams/str_1',
      method: 'GET',
      resumeUrl: (id) => `https://gw/v1/streams/${id}`,
      idempotency: false,
      generateKey: () => 'unused',
      streamId: 'str_1',
      lastEventId: 7,
    });
    expect(planner.lastEventId).toBe(7);
    expect(planner.accept('7')).toBe(false);
    const planned = planner.plan({});
    expect(planned).toMatchObject({ kind: 'resume', method: 'GET', url: 'https://gw/v1/streams/str_1' });
    expect(planned.headers).toEqual({ 'last-event-id': '7' });
    expect(planner.onDrop('fail')).toBe('resume');
  });

  it('resumes a stream named by one of its events (no X-Stream-Id), and a response-named stream keeps its name', () => {
    const planner = new ResumePlanner({
      url: 'https://api/v1/responses',
      method: 'POST',
      body: '{}',
      resumeUrl: (id, last) => `https://api/v1/responses/${id}?stream=true&starting_after=${last}`,
      firstEventId: 0,
      idempotency: false,
      generateKey: () => 'unused',
    });
    planner.plan({});
    planner.onResponse(null);
    expect(planner.accept('0')).toBe(true);
    planner.nameStream('resp_1');
    expect(planner.accept('1')).toBe(true);
    planner.nameStream('resp_2');
    expect(planner.onDrop('fail')).toBe('resume');
    expect(planner.plan({})).toMatchObject({
      kind: 'resume',
      method: 'GET',
      url: 'https://api/v1/responses/resp_1?stream=true&starting_after=1',
    });
  });

  it('sends the first POST with an idempotency key and no Last-Event-ID', () => {
    const planned = makePlanner().plan({ authorization: 'Bearer x' });
    expect(planned).toMatchObject({ kind: 'initial', method: 'POST', fromEventId: 0 });
    expect(planned.headers).toEqual({ authorization: 'Bearer x', 'idempotency-key': 'key-1' });
  });

  it('re-POSTs with the same key and Last-Event-ID when no response named the stream', () => {
    const planner = makePlanner();
    planner.plan({});
    expect(planner.onDrop('restart')).toBe('resume');
    const retry = planner.plan({});
    expect(retry).toMatchObject({ kind: 'repost', method: 'POST', body: '{}' });
    expect(retry.headers['idempotency-key']).toBe('key-1');
    expect(retry.headers['last-event-id']).toBeUndefined();
  });

  it('resumes a known stream by GET with the last delivered id', () => {
    const planner = makePlanner();
    planner.plan({});
    planner.onResponse('abc');
    for (const id of ['1', '2', '3']) expect(planner.accept(id)).toBe(true);
    expect(planner.onDrop('fail')).toBe('resume');
    const resume = planner.plan({});
    expect(resume).toMatchObject({
      kind: 'resume',
      method: 'GET',
      url: 'https://gw/v1/streams/abc',
      fromEventId: 3,
    });
    expect(resume.headers).toEqual({ 'last-event-id': '3' });
  });

  it('drops replayed events at or below the last delivered id', () => {
    const planner = makePlanner();
    expect(['1', '2', '2', '1', '3', '3', '4'].map((id) => planner.accept(id))).toEqual([
      true,
      true,
      false,
      false,
      true,
      false,
      true,
    ]);
    expect(planner.lastEventId).toBe(4);
  });

  it('restarts with a new key when the server answered without X-Stream-Id', () => {
    const planner = makePlanner();
    planner.plan({});
    planner.onResponse(null);
    planner.accept('1');
    expect(planner.onDrop('restart')).toBe('restart');
    const restart = planner.plan({});
    expect(restart).toMatchObject({ kind: 'restart', method: 'POST', fromEventId: 0 });
    expect(restart.headers['idempotency-key']).toBe('key-2');
    expect(planner.accept('1')).toBe(true);
  });

  it('fails under onNoResume "fail" only once something was delivered', () => {
    const quiet = makePlanner();
    quiet.plan({});
    quiet.onResponse(null);
    expect(quiet.onDrop('fail')).toBe('restart');
    const chatty = makePlanner();
    chatty.plan({});
    chatty.onResponse(null);
    chatty.accept(undefined);
    expect(chatty.onDrop('fail')).toBe('fail');
  });

  it('takes a response naming another stream after events were delivered as a new generation from id 1', () => {
    const planner = makePlanner();
    planner.plan({});
    expect(planner.onResponse('first')).toBe(false);
    for (const id of ['1', '2', '3']) planner.accept(id);
    expect(planner.onResponse('first')).toBe(false);
    expect(planner.accept('3')).toBe(false);
    expect(planner.onResponse('second')).toBe(true);
    expect(planner.streamId).toBe('second');
    expect(planner.accept('1')).toBe(true);
  });

  it('can start a new generation for its own request, not for a stream it attached to by id', () => {
    expect(makePlanner().canRestart).toBe(true);
    const attached = new ResumePlanner({
      url: 'https://gw/v1/streams/str_1',
      method: 'GET',
      idempotency: false,
      generateKey: () => 'unused',
      streamId: 'str_1',
    });
    expect(attached.canRestart).toBe(false);
  });
});
