import { expect, test } from 'vitest';
import * as client from '../src/index.js';

test('the package exports exactly its chosen API, no internal (planner, transports, retry arithmetic)', () => {
  expect(Object.keys(client).sort()).toEqual([
    'AbortError',
    'BufferedVerdicts',
    'CallbackError',
    'HttpError',
    'IdleTimeoutError',
    'MessagesAssembler',
    'NetworkError',
    'ResumeUnsupportedError',
    'SpoolClientError',
    'StatsRecorder',
    'StreamError',
    'connectEventStream',
    'createClient',
    'createManualLifecycle',
    'createScheduler',
    'fetchCanStream',
    'globalLifecycle',
    'resumableFetch',
  ]);
});
