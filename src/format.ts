/** Small text helpers: ages, durations and state names as the sidebar shows them. */

export function parseTime(value: string | null | undefined): Date | null {
  if (!value) {
    return null;
  }
  const date = new Date(value);
  return isNaN(date.getTime()) ? null : date;
}

/** "4s", "3m", "2h 05m", "3d 4h": a duration in seconds, two units at most. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  }
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "12s ago", "3m ago", "yesterday"-free: the age of an ISO time stamp. */
export function age(
  value: string | null | undefined,
  now: Date = new Date()
): string {
  const date = parseTime(value);
  if (!date) {
    return '';
  }
  const s = Math.max(0, (now.getTime() - date.getTime()) / 1000);
  if (s < 60) {
    return `${Math.round(s)}s ago`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ago`;
  }
  return `${Math.floor(s / 86400)}d ago`;
}

/** The label of a chain's state: "finished" says how ("stopped_by_user" → "stopped"). */
export function stateLabel(state: string, stopCode: string | null): string {
  if (state === 'finished' && stopCode) {
    const short: { [code: string]: string } = {
      stopped_by_user: 'stopped',
      init_failed: 'failed to start',
      succeeded: 'succeeded',
      failed: 'failed',
      timeout: 'timed out',
      lost: 'lost'
    };
    return short[stopCode] ?? stopCode;
  }
  return state === 'waiting_init' ? 'waiting' : state;
}

/** "hai-mod-running" etc.: one CSS modifier per state for the badge colour. */
export function stateClass(state: string, stopCode: string | null): string {
  if (state === 'finished') {
    if (stopCode === 'succeeded') {
      return 'hai-mod-succeeded';
    }
    if (stopCode === 'stopped_by_user') {
      return 'hai-mod-stopped';
    }
    return 'hai-mod-failed';
  }
  return `hai-mod-${state.replace('_', '-')}`;
}

export const PRIORITIES = [
  'LOW',
  'BELOW_NORMAL',
  'NORMAL',
  'ABOVE_NORMAL',
  'HIGH',
  'VERY_HIGH',
  'EXTREME_HIGH'
];

/** A DOM element with classes, attributes and children, in one call. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | undefined } = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined) {
      continue;
    }
    if (name === 'class') {
      el.className = value;
    } else {
      el.setAttribute(name, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      el.append(child);
    }
  }
  return el;
}
