/**
 * The status-bar item of this dev server's lease: time left and a renew action (mig-gpu
 * servers), and a visible warning when a spot server is about to be reclaimed.
 */
import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { duration, h, parseTime } from './format';
import { HaiModel } from './model';

/** Less than this left on a lease: the item turns into a warning. */
const WARN_SECONDS = 3600;

export class LeaseStatus extends Widget {
  constructor(private readonly model: HaiModel) {
    super();
    this.addClass('hai-LeaseStatus');
    this._text = h('span', { class: 'hai-LeaseStatus-text' });
    this._renew = h(
      'button',
      { type: 'button', class: 'hai-LinkButton hai-LeaseStatus-renew' },
      'Renew'
    );
    this._renew.addEventListener('click', () => void this.renew());
    this.node.append(this._text, this._renew);
    model.leaseChanged.connect(this._onLease, this);
    this._timer = window.setInterval(() => this._render(), 1000);
    this._onLease();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this.model.leaseChanged.disconnect(this._onLease, this);
    super.dispose();
  }

  async renew(): Promise<void> {
    this._renew.disabled = true;
    try {
      const lease = await this.model.renew();
      const left = lease?.lease_seconds_left;
      Notification.success(
        left !== null && left !== undefined
          ? `Lease renewed: ${duration(left)} left.`
          : 'Lease renewed.',
        { autoClose: 4000 }
      );
    } catch (error: any) {
      Notification.error(`Could not renew the lease: ${error.message}`, {
        autoClose: 8000
      });
    } finally {
      this._renew.disabled = false;
    }
  }

  private _onLease(): void {
    this._receivedAt = Date.now();
    const lease = this.model.lease;
    const reclaim =
      lease?.state === 'reclaiming'
        ? (lease.reclaim_requested_at ?? 'now')
        : null;
    if (reclaim && reclaim !== this._warnedFor) {
      this._warnedFor = reclaim;
      const deadline = parseTime(lease?.reclaim_deadline);
      const when = deadline
        ? ` in ${duration((deadline.getTime() - Date.now()) / 1000)}`
        : ' soon';
      Notification.warning(
        `This spot server will be reclaimed${when}: save your work now.` +
          (lease?.reclaim_reason ? ` (${lease.reclaim_reason})` : ''),
        { autoClose: false }
      );
    }
    this._render();
  }

  private _render(): void {
    const lease = this.model.lease;
    this.node.hidden = !lease;
    this.node.classList.remove('hai-mod-warn', 'hai-mod-danger');
    if (!lease) {
      return;
    }
    const elapsed = (Date.now() - this._receivedAt) / 1000;
    let text: string;
    let title = `${lease.profile} on ${lease.node}`;
    const renewable =
      lease.profile !== 'spot' && lease.lease_seconds_left !== null;
    if (lease.state === 'reclaiming') {
      const deadline = parseTime(lease.reclaim_deadline);
      const left = deadline ? (deadline.getTime() - Date.now()) / 1000 : null;
      text =
        left !== null
          ? `⚠ Spot reclaim in ${duration(left)}`
          : '⚠ Spot server being reclaimed';
      title += ` · reclaimed: ${lease.reclaim_reason ?? 'the node is needed'} · save your work`;
      this.node.classList.add('hai-mod-danger');
    } else if (lease.lease_seconds_left !== null) {
      const left = Math.max(0, lease.lease_seconds_left - elapsed);
      text = left > 0 ? `Lease ${duration(left)}` : 'Lease expired';
      title += ` · lease ends ${lease.lease_expires_at ?? ''}`;
      if (lease.lease_max_at) {
        title += ` · renewable until ${lease.lease_max_at}`;
      }
      if (left < WARN_SECONDS) {
        this.node.classList.add(left < 600 ? 'hai-mod-danger' : 'hai-mod-warn');
      }
    } else {
      text = `${lease.profile === 'spot' ? 'Spot' : lease.profile} · ${lease.node}`;
    }
    this._text.textContent = text;
    this.node.title = title;
    this._renew.hidden = !renewable || lease.state === 'reclaiming';
  }

  private _text: HTMLElement;
  private _renew: HTMLButtonElement;
  private _timer: number;
  private _receivedAt = Date.now();
  private _warnedFor: string | null = null;
}
