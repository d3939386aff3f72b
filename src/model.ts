/**
 * The shared state of the HAI widgets: my chains and this server's lease, kept up to date
 * by one `/hai/events` stream (the server polls the scheduler; the browser only listens).
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  EventStream,
  haiUrl,
  IChain,
  IChainsEvent,
  ILease,
  ILeaseEvent,
  INodeGroup,
  IStatus,
  ISubmitForm,
  postAPI,
  requestAPI
} from './api';

export class HaiModel {
  readonly changed: ISignal<HaiModel, void>;
  readonly leaseChanged: ISignal<HaiModel, void>;

  status: IStatus | null = null;
  chains: IChain[] = [];
  total = 0;
  lease: ILease | null = null;
  hub = false;
  /** Set while the scheduler (or the extension) cannot be reached. */
  error: string | null = null;
  connected = false;
  /** Wall-clock time of the last chains update, for "updated Ns ago". */
  receivedAt: Date | null = null;

  constructor() {
    this.changed = this._changed;
    this.leaseChanged = this._leaseChanged;
    this._stream = new EventStream(
      () => haiUrl('events'),
      (event, data) => this._onEvent(event, data),
      (connected, error) => {
        this.connected = connected;
        if (!connected && error) {
          this.error = error;
        }
        this._changed.emit();
      }
    );
  }

  /** Ask who we are, then listen for updates. */
  async start(): Promise<void> {
    try {
      this.status = await requestAPI<IStatus>('status');
      this.error = this.status.error;
    } catch (error: any) {
      this.error = error.message;
    }
    this._changed.emit();
    this._stream.start();
  }

  dispose(): void {
    this._stream.stop();
  }

  chain(id: number): IChain | undefined {
    return this.chains.find(c => c.id === id);
  }

  async stop(id: number): Promise<IChain> {
    const chain = await postAPI<IChain>(`chains/${id}/stop`);
    this._merge(chain);
    return chain;
  }

  async resubmit(id: number): Promise<IChain> {
    const chain = await postAPI<IChain>(`chains/${id}/resubmit`);
    this._merge(chain);
    return chain;
  }

  async submit(form: ISubmitForm): Promise<IChain> {
    const chain = await postAPI<IChain>('chains', form);
    this._merge(chain);
    return chain;
  }

  async renew(): Promise<ILease | null> {
    const answer = await postAPI<ILeaseEvent>('lease/renew');
    this.lease = answer.lease;
    this.hub = answer.hub;
    this._leaseChanged.emit();
    return this.lease;
  }

  async nodeGroups(): Promise<INodeGroup[]> {
    const answer = await requestAPI<{ groups: INodeGroup[] }>('nodes');
    return answer.groups;
  }

  private _merge(chain: IChain): void {
    const i = this.chains.findIndex(c => c.id === chain.id);
    if (i >= 0) {
      this.chains[i] = { ...this.chains[i], ...chain };
    } else {
      this.chains = [chain, ...this.chains];
    }
    this._changed.emit();
  }

  private _onEvent(event: string, data: any): void {
    if (event === 'chains') {
      const payload = data as IChainsEvent;
      this.chains = payload.chains;
      this.total = payload.total;
      this.receivedAt = new Date();
      this.error = null;
      this._changed.emit();
    } else if (event === 'lease') {
      const payload = data as ILeaseEvent;
      this.lease = payload.lease;
      this.hub = payload.hub;
      this._leaseChanged.emit();
    } else if (event === 'error') {
      this.error = data.error;
      this._changed.emit();
    }
  }

  private _stream: EventStream;
  private _changed = new Signal<HaiModel, void>(this);
  private _leaseChanged = new Signal<HaiModel, void>(this);
}
