/**
 * A log viewer for one rank of one chain: follows the output through
 * `/hai/chains/{id}/logs?follow=1` (server-sent events, resumed from the last cursor
 * after a reconnect; it continues across the chain's jobs after a suspend and resume).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { EventStream, haiUrl, ILogPage } from './api';
import { h, stateLabel } from './format';
import { haiIcon } from './icons';

const MAX_LINES = 5000;

export interface ILogTarget {
  id: number;
  name: string;
  rank: number;
  ranks: number;
}

export class LogViewer extends Widget {
  constructor(private target: ILogTarget) {
    super();
    this.addClass('hai-LogViewer');
    this._rankSelect = h('select', {
      class: 'jp-mod-styled hai-LogViewer-rank',
      'aria-label': 'Rank'
    });
    for (let r = 0; r < Math.max(1, target.ranks); r++) {
      this._rankSelect.append(h('option', { value: String(r) }, `rank ${r}`));
    }
    this._rankSelect.value = String(target.rank);
    this._rankSelect.addEventListener('change', () =>
      this.setRank(Number(this._rankSelect.value))
    );
    this._followBox = h('input', {
      type: 'checkbox',
      class: 'hai-LogViewer-follow'
    });
    this._followBox.checked = true;
    this._followBox.addEventListener('change', () => {
      if (this._followBox.checked) {
        this._scrollToEnd();
      }
    });
    this._state = h('span', { class: 'hai-LogViewer-state' }, 'connecting…');
    this._body = h('div', {
      class: 'hai-LogViewer-body',
      role: 'log',
      'aria-live': 'off'
    });
    this._body.addEventListener('scroll', () => {
      const atEnd =
        this._body.scrollTop + this._body.clientHeight >=
        this._body.scrollHeight - 4;
      if (!atEnd && this._followBox.checked && !this._autoScrolling) {
        this._followBox.checked = false;
      }
    });
    this.node.append(
      h(
        'div',
        { class: 'hai-LogViewer-bar' },
        h('strong', {}, `${target.name}`),
        h('span', { class: 'hai-LogViewer-id' }, ` chain ${target.id}`),
        this._rankSelect,
        h('label', {}, this._followBox, ' follow'),
        this._state
      ),
      this._body
    );
    this._connect();
  }

  get rank(): number {
    return this.target.rank;
  }

  /** Lines shown now (tests and the title look). */
  get lineCount(): number {
    return this._count;
  }

  setRank(rank: number): void {
    if (rank === this.target.rank) {
      return;
    }
    this.target = { ...this.target, rank };
    this._rankSelect.value = String(rank);
    this._stream?.stop();
    this._body.replaceChildren();
    this._count = 0;
    this._cursor = '';
    this._connect();
    this.rankChanged?.(rank);
  }

  rankChanged: ((rank: number) => void) | null = null;

  dispose(): void {
    this._stream?.stop();
    super.dispose();
  }

  private _connect(): void {
    const { id, rank } = this.target;
    this._stream = new EventStream(
      () =>
        haiUrl(`chains/${id}/logs`) +
        `?follow=1&rank=${rank}&cursor=${encodeURIComponent(this._cursor)}`,
      (event, data) => this._onEvent(event, data),
      (connected, error) => {
        if (connected) {
          this._state.textContent = 'following';
          this._state.className = 'hai-LogViewer-state';
        } else if (error) {
          this._state.textContent = `reconnecting: ${error}`;
          this._state.className = 'hai-LogViewer-state hai-mod-error';
        }
      }
    );
    this._stream.start();
  }

  private _onEvent(event: string, data: any): void {
    if (event === 'lines') {
      const page = data as ILogPage;
      this._cursor = page.cursor;
      this._append(page);
      this._state.textContent = `following · ${stateLabel(page.state, null)}`;
    } else if (event === 'done') {
      this._stream?.stop();
      this._state.textContent = `chain ${stateLabel(data.state, data.stop_code)} · end of log`;
      this._state.className = 'hai-LogViewer-state hai-mod-done';
      this.node.dataset.done = 'true';
    } else if (event === 'error') {
      this._state.textContent = data.error;
      this._state.className = 'hai-LogViewer-state hai-mod-error';
    }
  }

  private _append(page: ILogPage): void {
    const fragment = document.createDocumentFragment();
    for (const line of page.lines) {
      fragment.append(
        h(
          'div',
          { class: `hai-LogLine${line.marker ? ' hai-mod-marker' : ''}` },
          h(
            'span',
            { class: 'hai-LogLine-time' },
            line.time.replace('T', ' ').replace(/\.\d+Z?$|Z$/, '')
          ),
          h('span', { class: 'hai-LogLine-text' }, line.text)
        )
      );
    }
    this._body.append(fragment);
    this._count += page.lines.length;
    while (this._body.childElementCount > MAX_LINES) {
      this._body.firstElementChild?.remove();
    }
    if (this._followBox.checked) {
      this._scrollToEnd();
    }
  }

  private _scrollToEnd(): void {
    this._autoScrolling = true;
    this._body.scrollTop = this._body.scrollHeight;
    requestAnimationFrame(() => (this._autoScrolling = false));
  }

  private _stream: EventStream | null = null;
  private _cursor = '';
  private _count = 0;
  private _autoScrolling = false;
  private _rankSelect: HTMLSelectElement;
  private _followBox: HTMLInputElement;
  private _state: HTMLElement;
  private _body: HTMLElement;
}

/** The viewer in a main-area tab titled "name · rank N". */
export function createLogWidget(target: ILogTarget): MainAreaWidget<LogViewer> {
  const content = new LogViewer(target);
  const widget = new MainAreaWidget({ content });
  widget.id = `hai-logs-${target.id}`;
  widget.title.icon = haiIcon;
  widget.title.closable = true;
  const title = (rank: number) => {
    widget.title.label = `${target.name} · rank ${rank}`;
    widget.title.caption = `Log of chain ${target.id} (${target.name}), rank ${rank}`;
  };
  title(target.rank);
  content.rankChanged = title;
  return widget;
}
