/**
 * "My GPU-hours, last 7 days" in the sidebar: my GPU-hours per UTC day (blue) in front
 * of the whole cluster's (grey), from `GET /hai/usage` (the server extension asks the
 * scheduler for `GET /usage?by=day&since=7d` and fills in the empty days).
 *
 * Plain SVG built here: the extension has no chart library among its dependencies, and
 * seven pairs of bars do not need one. The layout and the number format are those of
 * `hai_client/usage_chart.py`, which draws the same chart for the hub's home page and the
 * `%hai usage` view. The chart's `aria-label` and `<title>` carry every number; with no
 * usage at all it is one line, "no usage data".
 */
import { IGpuTime, requestAPI } from './api';
import { h } from './format';

export interface IUsageDay {
  day: string;
  mine: number;
  cluster: number;
}

export interface IUsageSeries {
  user: string | null;
  days: IUsageDay[];
  mine: number;
  cluster: number;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 280;
const HEIGHT = 96;
const TOP = 14;
const BOTTOM = 16;

/** GPU-hours as the charts print them: 0, 0.0042, 3.25, 120.5. */
export function hoursText(hours: number): string {
  if (hours === 0) {
    return '0';
  }
  if (hours < 0.01) {
    return hours.toFixed(4);
  }
  return hours < 10 ? hours.toFixed(2) : hours.toFixed(1);
}

/** A chain's GPU-hours at `now`: its ended ranks plus the running ones so far. */
export function chainGpuHours(time: IGpuTime, now: Date = new Date()): number {
  let seconds = time.gpu_seconds;
  for (const r of time.running) {
    const start = new Date(r.started_at).getTime();
    seconds += Math.max(0, (now.getTime() - start) / 1000) * r.gpus;
  }
  return seconds / 3600;
}

/** The chart in words: every day's numbers (its title and aria-label). */
export function describeUsage(series: IUsageSeries): string {
  const n = series.days.length;
  if (!series.cluster) {
    return `GPU-hours, last ${n} days: no usage data`;
  }
  const days = series.days
    .map(d => `${d.day}: ${hoursText(d.mine)} of ${hoursText(d.cluster)}`)
    .join('; ');
  return (
    `My GPU-hours per day (UTC) of the cluster's, last ${n} days: ${days}. ` +
    `Total ${hoursText(series.mine)} of ${hoursText(series.cluster)}.`
  );
}

function svgEl(
  tag: string,
  attrs: { [key: string]: string | number },
  ...children: (Node | string)[]
): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    el.setAttribute(key, String(value));
  }
  el.append(...children);
  return el;
}

function bar(
  x: number,
  width: number,
  value: number,
  scale: number,
  cls: string,
  tip: string
): SVGElement {
  const plot = HEIGHT - TOP - BOTTOM;
  const height = scale
    ? Math.max((value / scale) * plot, value > 0 ? 1 : 0)
    : 0;
  return svgEl(
    'rect',
    {
      class: cls,
      x: x.toFixed(1),
      y: (HEIGHT - BOTTOM - height).toFixed(1),
      width: width.toFixed(1),
      height: height.toFixed(1),
      'data-gpu-hours': value
    },
    svgEl('title', {}, tip)
  );
}

function dayColumn(
  d: IUsageDay,
  i: number,
  slot: number,
  scale: number
): SVGElement {
  const x = i * slot;
  const weekday = new Date(`${d.day}T00:00:00Z`).toLocaleDateString('en', {
    weekday: 'short',
    timeZone: 'UTC'
  });
  return svgEl(
    'g',
    { class: 'hai-usage-day', 'data-day': d.day },
    bar(
      x + 2,
      slot - 4,
      d.cluster,
      scale,
      'hai-usage-cluster',
      `${d.day} cluster: ${hoursText(d.cluster)} GPU-h`
    ),
    bar(
      x + slot * 0.3,
      slot * 0.4,
      d.mine,
      scale,
      'hai-usage-mine',
      `${d.day} mine: ${hoursText(d.mine)} GPU-h`
    ),
    svgEl(
      'text',
      { x: (x + slot / 2).toFixed(1), y: HEIGHT - 4, 'text-anchor': 'middle' },
      weekday.slice(0, 2)
    )
  );
}

/** The chart as an `<svg>`, or a one-line paragraph when there is no usage at all. */
export function usageChart(series: IUsageSeries): Element {
  const text = describeUsage(series);
  if (!series.cluster || !series.days.length) {
    return h('p', { class: 'hai-usage-empty', title: text }, 'no usage data');
  }
  const scale = Math.max(...series.days.map(d => d.cluster));
  const slot = WIDTH / series.days.length;
  return svgEl(
    'svg',
    {
      class: 'hai-usage-chart',
      role: 'img',
      'aria-label': text,
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      width: WIDTH,
      height: HEIGHT
    },
    svgEl('title', {}, text),
    svgEl('text', { x: 0, y: 10 }, `max ${hoursText(scale)} GPU-h/day`),
    ...series.days.map((d, i) => dayColumn(d, i, slot, scale))
  );
}

/** The sidebar's usage section: loads `/hai/usage` now and every `refreshMs`. */
export class UsageSection {
  readonly node: HTMLElement;

  constructor(refreshMs = 60000) {
    this._box = h('div', { class: 'hai-Usage-chart', 'aria-live': 'polite' });
    this.node = h(
      'section',
      { class: 'hai-Usage' },
      h(
        'div',
        { class: 'hai-Section-title' },
        h('span', {}, 'My GPU-hours, last 7 days')
      ),
      this._box,
      h(
        'div',
        { class: 'hai-Usage-legend' },
        h('span', { class: 'hai-Usage-swatch hai-mod-mine' }),
        'mine ',
        h('span', { class: 'hai-Usage-swatch hai-mod-cluster' }),
        'the whole cluster (UTC days)'
      )
    );
    void this.refresh();
    this._timer = window.setInterval(() => void this.refresh(), refreshMs);
  }

  async refresh(): Promise<void> {
    try {
      const series = await requestAPI<IUsageSeries>('usage');
      this._box.replaceChildren(usageChart(series));
    } catch (error: any) {
      this._box.replaceChildren(
        h(
          'p',
          { class: 'hai-usage-empty', title: String(error.message) },
          'no usage data'
        )
      );
    }
  }

  dispose(): void {
    window.clearInterval(this._timer);
  }

  private _box: HTMLElement;
  private _timer: number;
}
