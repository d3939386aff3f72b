/**
 * Talking to the server extension: JSON requests under `/hai/` and server-sent event
 * streams read with fetch (so the Jupyter token and XSRF headers go along, as for every
 * other JupyterLab request). The scheduler API's shapes are not written here: they are
 * generated from openapi.json into `api.gen.d.ts` (`npm run build:types`).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './api.gen';

/** The API's shapes, generated from openapi.json (`npm run build:types`). */
type Schemas = components['schemas'];

/** A rank of a chain's newest job, as the extension summarises it (events.ranks_summary). */
export type IRank = Pick<
  Schemas['Rank'],
  'rank' | 'state' | 'node' | 'exit_code' | 'reason'
>;

/** A chain's GPU time: ended ranks summed, running ones counted up to "now". */
export interface IGpuTime {
  gpu_seconds: number;
  running: { started_at: string; gpus: number }[];
}

/** A chain as the extension sends it: the API's, with its newest ranks, nodes and GPU time. */
export type IChain = Omit<Schemas['Chain'], 'jobs'> & {
  ranks?: IRank[];
  nodes?: string[];
  gpu_time?: IGpuTime;
};

export interface IChainsEvent {
  user: string;
  total: number;
  chains: IChain[];
}

/** This server's dev-server allocation and lease, as the scheduler answers it. */
export type ILease = Schemas['DevServer'];

export interface ILeaseEvent {
  lease: ILease | null;
  hub: boolean;
}

export interface IStatus {
  configured: boolean;
  error: string | null;
  url: string | null;
  source: string | null;
  user: { name: string; role: string } | null;
  hub_user: string | null;
  server_name: string;
  profile: string | null;
  node: string | null;
}

export type ILogLine = Schemas['LogLine'];

/** One page of a rank's log as the extension sends it (without the chain's id). */
export type ILogPage = Omit<Schemas['LogPage'], 'chain_id'>;

export type INodeGroup = Schemas['NodeGroup'];

export interface ISubmitForm {
  path: string;
  args?: string;
  name?: string;
  nodes?: string;
  priority?: string;
  group?: string;
  haienv?: string;
}

/** An error answer of the extension: a message, and the form field it is about. */
export class HaiApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly field: string | null = null
  ) {
    super(message);
  }
}

export function haiUrl(path: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'hai', path);
}

/** One JSON request to `/hai/<path>`; HaiApiError with the server's message on failure. */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(haiUrl(path), init, settings);
  } catch (error) {
    throw new HaiApiError(`cannot reach the Jupyter server: ${error}`, 0);
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message =
      (data && (data.error || data.message)) ||
      `HTTP ${response.status} from /hai/${path}`;
    throw new HaiApiError(
      message,
      response.status,
      (data && data.field) || null
    );
  }
  return data as T;
}

export function postAPI<T>(path: string, body: unknown = {}): Promise<T> {
  return requestAPI<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

export type EventHandler = (
  event: string,
  data: any,
  id: string | null
) => void;

/**
 * A server-sent event stream read with fetch. Reconnects after a pause when the stream
 * ends or fails, unless `stop()` was called or the handler called `finish()`; the URL is
 * asked again on each connect, so a log stream can resume from its last cursor.
 */
export class EventStream {
  constructor(
    private readonly urlFor: () => string,
    private readonly onEvent: EventHandler,
    private readonly onState: (
      connected: boolean,
      error?: string
    ) => void = () => {}
  ) {}

  start(): void {
    if (!this._running) {
      this._running = true;
      void this._loop();
    }
  }

  /** Stop reading for good (the stream is closed). */
  stop(): void {
    this._running = false;
    this._abort?.abort();
  }

  get running(): boolean {
    return this._running;
  }

  private async _loop(): Promise<void> {
    let delay = 1000;
    while (this._running) {
      try {
        await this._readOnce();
        delay = 1000;
      } catch (error: any) {
        if (!this._running) {
          break;
        }
        this.onState(
          false,
          error instanceof HaiApiError ? error.message : String(error)
        );
        if (error instanceof HaiApiError && error.status === 403) {
          delay = 30000; // logged out: do not hammer the server
        }
      }
      if (!this._running) {
        break;
      }
      await new Promise(resolve => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  private async _readOnce(): Promise<void> {
    const settings = ServerConnection.makeSettings();
    this._abort = new AbortController();
    const response = await ServerConnection.makeRequest(
      this.urlFor(),
      { signal: this._abort.signal, headers: { Accept: 'text/event-stream' } },
      settings
    );
    if (!response.ok || !response.body) {
      let message = `HTTP ${response.status}`;
      try {
        const data = await response.json();
        message = data.error || data.message || message;
      } catch {
        /* not JSON */
      }
      throw new HaiApiError(message, response.status);
    }
    this.onState(true);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    while (this._running) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this._dispatch(block);
      }
    }
    void reader.cancel().catch(() => undefined);
  }

  private _dispatch(block: string): void {
    let event = 'message';
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const key = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (key === 'event') {
        event = value;
      } else if (key === 'data') {
        data.push(value);
      } else if (key === 'id') {
        id = value;
      }
    }
    if (!data.length) {
      return;
    }
    let parsed: any;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    this.onEvent(event, parsed, id);
  }

  private _running = false;
  private _abort: AbortController | null = null;
}
