import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { XhrLike } from '../src/index.js';

/**
 * A minimal XMLHttpRequest over node:http, behaving like React Native's: readyState 2 once headers are
 * in, `progress` with a growing `responseText`, readyState 4 at the end or with status 0 on failure.
 */
export class NodeXhr implements XhrLike {
  /** Every instance created, for assertions on progress handling. */
  static instances: NodeXhr[] = [];

  readyState = 0;
  status = 0;
  responseText = '';
  progressEvents = 0;
  onreadystatechange: (() => void) | null = null;
  onprogress: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;

  #method = 'GET';
  #url = '';
  #headers: Record<string, string> = {};
  #request: ClientRequest | undefined;
  #response: IncomingMessage | undefined;
  #finished = false;

  constructor() {
    NodeXhr.instances.push(this);
  }

  open(method: string, url: string): void {
    this.#method = method;
    this.#url = url;
    this.#setState(1);
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers[name] = value;
  }

  getResponseHeader(name: string): string | null {
    const value = this.#response?.headers[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  send(body?: string | null): void {
    const request = httpRequest(this.#url, { method: this.#method, headers: this.#headers }, (response) => {
      this.#response = response;
      this.status = response.statusCode ?? 0;
      this.#setState(2);
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        this.responseText += text;
        this.#setState(3);
        this.progressEvents += 1;
        this.onprogress?.();
      });
      response.on('end', () => this.#finish(false));
      response.on('error', () => this.#finish(true));
      response.on('aborted', () => this.#finish(true));
    });
    request.on('error', () => this.#finish(true));
    this.#request = request;
    request.end(body ?? undefined);
  }

  abort(): void {
    if (this.#finished) return;
    this.#request?.destroy();
    this.#finished = true;
    this.status = 0;
    this.#setState(4);
  }

  #finish(failed: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    if (failed) this.status = 0;
    this.#setState(4);
    if (failed) this.onerror?.();
  }

  #setState(state: number): void {
    this.readyState = state;
    this.onreadystatechange?.();
  }
}
