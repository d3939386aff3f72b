/**
 * The "HAI tasks" sidebar: my chains updating live (state, suspends, nodes, updated), per
 * chain the ranks with a log button each, stop and resubmit, a submit form for the
 * open notebook or a script whose errors come from the scheduler, next to the field, and
 * my GPU-hours over the last 7 days (./usagechart.ts).
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { pauseIcon } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { HaiApiError, IChain, ISubmitForm } from './api';
import { age, h, PRIORITIES, stateClass, stateLabel } from './format';
import { HaiModel } from './model';
import { chainGpuHours, hoursText, UsageSection } from './usagechart';

export const CommandIDs = {
  openLogs: 'hai:open-logs',
  stop: 'hai:stop-chain',
  resubmit: 'hai:resubmit-chain',
  show: 'hai:show-tasks',
  submitCurrent: 'hai:submit-current',
  renew: 'hai:renew-lease'
};

/** Ask, then stop a chain for good; true when it was stopped. */
export async function confirmStop(
  model: HaiModel,
  chain: IChain
): Promise<boolean> {
  const answer = await showDialog({
    title: `Stop ${chain.name}?`,
    body: `Chain ${chain.id} stops for good: its ranks get a stop signal and it will not resume.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
  });
  if (!answer.button.accept) {
    return false;
  }
  try {
    await model.stop(chain.id);
    return true;
  } catch (error: any) {
    Notification.error(`Could not stop ${chain.name}: ${error.message}`, {
      autoClose: 8000
    });
    return false;
  }
}

/** Which form field a server error names (`overrides.node_count` → `nodes`). */
export function formField(field: string | null): string | null {
  if (!field) {
    return null;
  }
  const map: [string, string][] = [
    ['node_count', 'nodes'],
    ['gpus', 'nodes'],
    ['priority', 'priority'],
    ['group', 'group'],
    ['haienv', 'haienv'],
    ['parameters', 'args'],
    ['args', 'args'],
    ['entrypoint', 'path'],
    ['workspace', 'path'],
    ['path', 'path'],
    ['name', 'name']
  ];
  for (const [key, name] of map) {
    if (field.includes(key)) {
      return name;
    }
  }
  return null;
}

/** "GPU time 0.25 GPU-h (2 GPUs now)": a chain's GPU-hours so far. */
export function gpuTimeText(chain: IChain, now: Date = new Date()): string {
  if (!chain.gpu_time) {
    return '';
  }
  const held = chain.gpu_time.running.reduce((n, r) => n + r.gpus, 0);
  const hours = hoursText(chainGpuHours(chain.gpu_time, now));
  return (
    `GPU time ${hours} GPU-h` +
    (held ? ` (${held} GPU${held === 1 ? '' : 's'} now)` : '')
  );
}

export class HaiSidebar extends Widget {
  constructor(
    private readonly model: HaiModel,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.id = 'hai-tasks';
    this.addClass('hai-Sidebar');
    this.title.caption = 'HAI tasks';
    this._who = h('div', { class: 'hai-Sidebar-who' }, 'connecting…');
    this._banner = h('div', { class: 'hai-Sidebar-banner', role: 'alert' });
    this._banner.hidden = true;
    this._list = h('ul', { class: 'hai-ChainList', 'aria-label': 'My chains' });
    this._count = h('span', { class: 'hai-Section-count' });
    this._form = this._buildForm();
    this._usage = new UsageSection();
    this.node.append(
      h(
        'header',
        { class: 'hai-Sidebar-header' },
        h('h2', {}, 'HAI tasks'),
        this._who
      ),
      this._banner,
      this._usage.node,
      this._form,
      h(
        'div',
        { class: 'hai-Section-title' },
        h('span', {}, 'My chains'),
        this._count
      ),
      this._list
    );
    model.changed.connect(this._render, this);
    this._timer = window.setInterval(() => this._tick(), 5000);
    this._render();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this._usage.dispose();
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  /** The notebook or script open in the main area, offered as the thing to submit. */
  setCurrentPath(path: string | null): void {
    this._currentPath = path;
    const input = this._inputs.path;
    if (path && !this._pathEdited) {
      input.value = path;
    }
    this._currentHint.textContent = path ? `open: ${path}` : '';
    this._useCurrent.hidden = !path || input.value === path;
  }

  /** Open the submit form, prefilled with the open file. */
  openSubmitForm(): void {
    this._form.open = true;
    if (this._currentPath) {
      this._inputs.path.value = this._currentPath;
      this._pathEdited = false;
    }
    this._inputs.path.focus();
  }

  // ----------------------------------------------------------------------- submit form

  private _buildForm(): HTMLDetailsElement {
    const input = (name: string, attrs: { [k: string]: string } = {}) =>
      h('input', {
        class: 'jp-mod-styled hai-Input',
        name,
        id: `hai-submit-${name}`,
        ...attrs
      });
    this._inputs = {
      path: input('path', {
        placeholder: 'notebook.ipynb or train.py',
        required: ''
      }),
      args: input('args', { placeholder: '--epochs 3' }),
      name: input('name', { placeholder: 'default: the file name' }),
      nodes: input('nodes', {
        type: 'number',
        min: '1',
        step: '1',
        placeholder: '1'
      }),
      haienv: input('haienv', { placeholder: 'default: none' })
    };
    this._inputs.path.addEventListener('input', () => {
      this._pathEdited = true;
      this._useCurrent.hidden =
        !this._currentPath || this._inputs.path.value === this._currentPath;
    });
    const priority = h('select', {
      class: 'jp-mod-styled hai-Input',
      name: 'priority',
      id: 'hai-submit-priority'
    });
    priority.append(h('option', { value: '' }, 'default'));
    for (const p of PRIORITIES) {
      priority.append(h('option', { value: p }, p));
    }
    const group = h('select', {
      class: 'jp-mod-styled hai-Input',
      name: 'group',
      id: 'hai-submit-group'
    });
    group.append(h('option', { value: '' }, 'default'));
    this._selects = { priority, group };
    this._currentHint = h('span', { class: 'hai-Submit-hint' });
    this._useCurrent = h(
      'button',
      { type: 'button', class: 'hai-LinkButton' },
      'use it'
    );
    this._useCurrent.hidden = true;
    this._useCurrent.addEventListener('click', () => {
      if (this._currentPath) {
        this._inputs.path.value = this._currentPath;
        this._pathEdited = false;
        this._useCurrent.hidden = true;
      }
    });
    this._message = h('div', { class: 'hai-Submit-message', role: 'status' });
    const submit = h(
      'button',
      {
        type: 'submit',
        class: 'jp-Button jp-mod-styled jp-mod-accept hai-Submit-button'
      },
      'Submit'
    );
    const row = (
      label: string,
      name: string,
      control: HTMLElement,
      extra?: HTMLElement
    ) =>
      h(
        'div',
        { class: 'hai-Field', 'data-field': name },
        h('label', { for: `hai-submit-${name}` }, label),
        control,
        extra ?? null,
        h('div', { class: 'hai-Field-error' })
      );
    const form = h(
      'form',
      { class: 'hai-Submit-form', novalidate: '' },
      row(
        'File',
        'path',
        this._inputs.path,
        h('div', {}, this._currentHint, ' ', this._useCurrent)
      ),
      row('Arguments', 'args', this._inputs.args),
      row('Name', 'name', this._inputs.name),
      h(
        'div',
        { class: 'hai-Field-pair' },
        row('Nodes', 'nodes', this._inputs.nodes),
        row('Priority', 'priority', priority)
      ),
      h(
        'div',
        { class: 'hai-Field-pair' },
        row('Group', 'group', group),
        row('haienv', 'haienv', this._inputs.haienv)
      ),
      h('div', { class: 'hai-Submit-actions' }, submit),
      this._message
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this._submit(submit);
    });
    const details = h(
      'details',
      { class: 'hai-Submit' },
      h(
        'summary',
        { class: 'hai-Section-title' },
        'Submit a notebook or script'
      ),
      form
    );
    details.addEventListener('toggle', () => {
      if (details.open) {
        void this._loadGroups();
      }
    });
    return details;
  }

  private async _loadGroups(): Promise<void> {
    if (this._groupsLoaded) {
      return;
    }
    try {
      const groups = await this.model.nodeGroups();
      const select = this._selects.group;
      for (const g of groups) {
        select.append(
          h(
            'option',
            { value: g.name },
            `${g.name} (${g.free_nodes}/${g.nodes} nodes free)`
          )
        );
      }
      this._groupsLoaded = true;
    } catch {
      /* the banner shows connection errors */
    }
  }

  private _clearErrors(): void {
    this._form.querySelectorAll('.hai-Field').forEach(el => {
      el.classList.remove('hai-mod-invalid');
      (el.querySelector('.hai-Field-error') as HTMLElement).textContent = '';
    });
    this._message.textContent = '';
    this._message.className = 'hai-Submit-message';
  }

  private _showError(message: string, field: string | null): void {
    const name = formField(field);
    const box = name
      ? this._form.querySelector(`.hai-Field[data-field="${name}"]`)
      : null;
    if (box) {
      box.classList.add('hai-mod-invalid');
      (box.querySelector('.hai-Field-error') as HTMLElement).textContent =
        message;
      (box.querySelector('input, select') as HTMLElement | null)?.focus();
    } else {
      this._message.textContent = message;
      this._message.classList.add('hai-mod-error');
    }
  }

  private async _submit(button: HTMLButtonElement): Promise<void> {
    this._clearErrors();
    const form: ISubmitForm = {
      path: this._inputs.path.value.trim(),
      args: this._inputs.args.value,
      name: this._inputs.name.value.trim(),
      nodes: this._inputs.nodes.value.trim(),
      priority: this._selects.priority.value,
      group: this._selects.group.value,
      haienv: this._inputs.haienv.value.trim()
    };
    if (!form.path) {
      this._showError('choose a notebook or a script to submit', 'path');
      return;
    }
    if (form.nodes && !/^[0-9]+$/.test(form.nodes)) {
      this._showError('nodes must be a whole number', 'node_count');
      return;
    }
    button.disabled = true;
    try {
      const chain = await this.model.submit(form);
      this._message.textContent = `Submitted chain ${chain.id} '${chain.name}'.`;
      this._message.classList.add('hai-mod-ok');
      this._expanded.add(chain.id);
      this._render();
    } catch (error: any) {
      const field = error instanceof HaiApiError ? error.field : null;
      this._showError(error.message, field);
    } finally {
      button.disabled = false;
    }
  }

  // ----------------------------------------------------------------------- chain list

  private _render(): void {
    const { model } = this;
    const status = model.status;
    if (status?.user) {
      const where = status.url ?? '';
      this._who.textContent = `${status.user.name} · ${where}`;
      this._who.title = `credentials from ${status.source}`;
    } else if (status && !status.configured) {
      this._who.textContent = 'not configured';
    }
    const error = model.error;
    this._banner.hidden = !error;
    this._banner.textContent = error ?? '';
    this._count.textContent = model.receivedAt
      ? `${model.chains.length} of ${model.total}`
      : '';
    const items = model.chains.map(chain => this._chainItem(chain));
    if (!items.length) {
      const text = model.receivedAt
        ? 'No chains yet. Submit a notebook or a script above, or run hai-cli.'
        : 'Loading…';
      items.push(h('li', { class: 'hai-ChainList-empty' }, text));
    }
    this._list.replaceChildren(...items);
  }

  private _tick(): void {
    const now = new Date();
    this._list.querySelectorAll<HTMLElement>('[data-time]').forEach(el => {
      el.textContent = age(el.dataset.time, now);
    });
    this._list.querySelectorAll<HTMLElement>('[data-gpu-time]').forEach(el => {
      const chain = this.model.chain(Number(el.dataset.gpuTime));
      if (chain?.gpu_time) {
        el.textContent = gpuTimeText(chain, now);
      }
    });
  }

  private _chainItem(chain: IChain): HTMLElement {
    const open = this._expanded.has(chain.id);
    const label = stateLabel(chain.state, chain.stop_code);
    const badge = h(
      'span',
      {
        class: `hai-State ${stateClass(chain.state, chain.stop_code)}`,
        title: chain.reason || chain.state
      },
      label
    );
    const nodes =
      chain.nodes && chain.nodes.length
        ? chain.nodes.join(', ')
        : `${chain.node_count} node${chain.node_count === 1 ? '' : 's'}`;
    const suspends = h(
      'span',
      {
        class: 'hai-Chain-suspends',
        title: `suspended (preempted) ${chain.suspend_count} times`
      },
      pauseIcon.element({ tag: 'span', className: 'hai-Chain-suspendIcon' }),
      String(chain.suspend_count)
    );
    const row = h(
      'div',
      {
        class: 'hai-Chain-row',
        role: 'button',
        tabindex: '0',
        'aria-expanded': String(open)
      },
      h(
        'div',
        { class: 'hai-Chain-line' },
        h(
          'span',
          { class: 'hai-Chain-name', title: `chain ${chain.id}` },
          chain.name
        ),
        badge,
        h(
          'span',
          {
            class: 'hai-Chain-updated',
            'data-time': chain.updated_at ?? '',
            title: `updated ${chain.updated_at ?? ''}`
          },
          age(chain.updated_at)
        )
      ),
      h(
        'div',
        { class: 'hai-Chain-line hai-Chain-sub' },
        suspends,
        h('span', { class: 'hai-Chain-nodes', title: 'nodes' }, nodes),
        h('span', { class: 'hai-Chain-priority' }, chain.priority)
      )
    );
    const toggle = () => {
      if (this._expanded.has(chain.id)) {
        this._expanded.delete(chain.id);
      } else {
        this._expanded.add(chain.id);
      }
      this._render();
    };
    row.addEventListener('click', toggle);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        toggle();
      }
    });
    const item = h(
      'li',
      {
        class: `hai-Chain${open ? ' hai-mod-open' : ''}`,
        'data-chain-id': String(chain.id),
        'data-chain-name': chain.name,
        'data-state': chain.state,
        'data-stop-code': chain.stop_code ?? ''
      },
      row
    );
    if (open) {
      item.append(this._detail(chain));
    }
    return item;
  }

  private _detail(chain: IChain): HTMLElement {
    const finished = chain.state === 'finished';
    const button = (
      label: string,
      cls: string,
      onClick: () => void,
      disabled = false
    ) => {
      const b = h(
        'button',
        { type: 'button', class: `jp-Button jp-mod-styled ${cls}` },
        label
      );
      b.disabled = disabled;
      b.addEventListener('click', event => {
        event.stopPropagation();
        onClick();
      });
      return b;
    };
    const ranks =
      chain.ranks && chain.ranks.length
        ? chain.ranks
        : Array.from({ length: chain.node_count }, (_, rank) => ({
            rank,
            state: 'not started',
            node: null,
            exit_code: null,
            reason: ''
          }));
    const rankRows = ranks.map(r =>
      h(
        'li',
        { class: 'hai-Rank', 'data-rank': String(r.rank) },
        h('span', { class: 'hai-Rank-name' }, `rank ${r.rank}`),
        h(
          'span',
          { class: 'hai-Rank-state' },
          r.state + (r.exit_code !== null ? ` (exit ${r.exit_code})` : '')
        ),
        h('span', { class: 'hai-Rank-node' }, r.node ?? ''),
        button('Logs', 'hai-LogsButton', () => {
          void this.commands.execute(CommandIDs.openLogs, {
            id: chain.id,
            name: chain.name,
            rank: r.rank,
            ranks: chain.node_count
          });
        })
      )
    );
    const facts = [
      `id ${chain.id}`,
      chain.priority,
      `group ${chain.group}`,
      `${chain.node_count} node${chain.node_count === 1 ? '' : 's'}`
    ];
    if (chain.stop_requested && !finished) {
      facts.push('stopping…');
    }
    const gpuTime = chain.gpu_time
      ? h(
          'div',
          {
            class: 'hai-Chain-gpuTime',
            'data-gpu-time': String(chain.id),
            title:
              'GPU time of every run of this chain (suspended time not counted)'
          },
          gpuTimeText(chain)
        )
      : null;
    return h(
      'div',
      { class: 'hai-Chain-detail' },
      h('div', { class: 'hai-Chain-facts' }, facts.join(' · ')),
      gpuTime,
      chain.reason
        ? h('div', { class: 'hai-Chain-reason' }, chain.reason)
        : null,
      h('ul', { class: 'hai-RankList' }, ...rankRows),
      h(
        'div',
        { class: 'hai-Chain-actions' },
        finished
          ? null
          : button(
              'Stop',
              'jp-mod-warn hai-StopButton',
              () =>
                void this.commands.execute(CommandIDs.stop, { id: chain.id }),
              chain.stop_requested
            ),
        button('Resubmit', 'hai-ResubmitButton', () => {
          void this.commands.execute(CommandIDs.resubmit, { id: chain.id });
        })
      )
    );
  }

  private _who: HTMLElement;
  private _banner: HTMLElement;
  private _list: HTMLUListElement;
  private _count: HTMLElement;
  private _form: HTMLDetailsElement;
  private _usage: UsageSection;
  private _message!: HTMLElement;
  private _inputs!: { [name: string]: HTMLInputElement };
  private _selects!: { priority: HTMLSelectElement; group: HTMLSelectElement };
  private _currentHint!: HTMLElement;
  private _useCurrent!: HTMLButtonElement;
  private _currentPath: string | null = null;
  private _pathEdited = false;
  private _groupsLoaded = false;
  private _expanded = new Set<number>();
  private _timer: number;
}
