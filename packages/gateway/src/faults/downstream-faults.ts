import type { IncomingMessage } from 'node:http';
import { FAULT_HEADER } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import type {
  ClientConnection,
  Downstream,
  DownstreamWrapper,
  ServedReader,
} from '../handlers/downstream.js';
import { countStoredEvents, storedEventsEnd } from '../handlers/stored-events.js';
import { FaultSpecError, parseFaultSpec } from './fault-spec.js';

/** A fault on the client's connection: cut it, or stop writing to it, after `afterEvents` events. */
interface DownstreamFault {
  /** `cut` destroys the connection; `stall` writes nothing more (heartbeats neither) until the client leaves. */
  kind: 'cut' | 'stall';
  afterEvents: number;
}

/**
 * The wrapper that puts the client-connection fault a request asks for in `X-Spool-Fault`
 * (`client-cut-after`, else `client-stall-after`) on the stream it started, or `undefined` when it
 * asks for none. The gateway installs this only in dev mode or with `server.faultInjection`
 * (`GatewayContext.wrapStartedStream`), so a production gateway cannot be made to cut its own clients.
 * @throws GatewayError 400 `invalid_request` (param `x-spool-fault`) for a malformed header.
 */
export function downstreamFaultFor(request: IncomingMessage): DownstreamWrapper | undefined {
  const header = request.headers[FAULT_HEADER];
  if (typeof header !== 'string') return undefined;
  const fault = parseDownstreamFault(header);
  return fault && ((connection) => new FaultyDownstream(connection, fault));
}

function parseDownstreamFault(header: string): DownstreamFault | undefined {
  try {
    const spec = parseFaultSpec(header);
    if (spec.clientCutAfter !== undefined) return { kind: 'cut', afterEvents: spec.clientCutAfter };
    if (spec.clientStallAfter !== undefined) return { kind: 'stall', afterEvents: spec.clientStallAfter };
    return undefined;
  } catch (error) {
    if (error instanceof FaultSpecError)
      throw GatewayError.of('invalid_request', error.message, { param: FAULT_HEADER });
    throw error;
  }
}

/**
 * A client connection that passes batches through until the fault's event is written, then cuts
 * the connection or stalls it: the events before it (and the headers) reach the socket first.
 */
class FaultyDownstream implements Downstream {
  readonly #connection: ClientConnection;
  readonly #fault: DownstreamFault;
  #eventsLeft: number;

  constructor(connection: ClientConnection, fault: DownstreamFault) {
    this.#connection = connection;
    this.#fault = fault;
    this.#eventsLeft = fault.afterEvents;
  }

  write(batch: string, reader: ServedReader): void {
    const end = storedEventsEnd(batch, this.#eventsLeft);
    if (end < 0) {
      this.#eventsLeft -= countStoredEvents(batch);
      this.#connection.write(batch, reader);
      return;
    }
    this.#apply(batch.slice(0, end)).then(
      () => reader.stopReading(),
      (error: unknown) => reader.stopReading(error),
    );
  }

  async #apply(before: string): Promise<void> {
    const connection = this.#connection;
    const response = connection.response;
    connection.silence();
    connection.send(before);
    await new Promise<void>((resolve) => connection.flush(resolve));
    if (this.#fault.kind === 'cut') response.destroy();
    else if (!response.destroyed) await new Promise((resolve) => response.once('close', resolve));
  }
}
