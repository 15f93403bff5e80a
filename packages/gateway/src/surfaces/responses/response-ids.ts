/**
 * A Response id is its stream id under OpenAI's prefix (`str_X` is `resp_X`): any instance sharing
 * the spool finds a response's stream from its id alone, with nothing else stored.
 */
export function responseIdOf(streamId: string): string {
  return `resp_${streamId.slice('str_'.length)}`;
}

const RESPONSE_ID_PATTERN = /^resp_([A-Za-z0-9_-]{16,64})$/;

/** The stream id of a Response id, or `undefined` when it is not one of Spool's. */
export function streamIdOf(responseId: string): string | undefined {
  const suffix = RESPONSE_ID_PATTERN.exec(responseId)?.[1];
  return suffix === undefined ? undefined : `str_${suffix}`;
}
