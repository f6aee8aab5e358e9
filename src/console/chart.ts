// The overview's charts as data for an inline SVG made on the server (templates.ts CHART): per
// time bucket, a bar of events (led to a delivery or not) beside a stacked bar of deliveries by
// status. Only numbers and our own labels reach the SVG.
import type { Activity, DeliveryStatus } from '../store/store.js';

export interface ChartView {
  title: string;
  svg: {
    width: number;
    height: number;
    grid: { x1: number; x2: number; y: number; ty: number; label: string }[];
    bars: { x: number; y: number; w: number; h: number; cls: string; label: string }[];
    ticks: { x: number; y: number; text: string }[];
  };
  totals: { label: string; n: number; cls: string }[];
}

/** Statuses stacked bottom to top; failed is shown with pending (both are still being tried). */
const STACK: { cls: string; label: string; statuses: DeliveryStatus[] }[] = [
  { cls: 'delivered', label: 'delivered', statuses: ['delivered'] },
  { cls: 'pending', label: 'pending or retrying', statuses: ['pending', 'failed'] },
  { cls: 'dead', label: 'dead', statuses: ['dead'] },
  { cls: 'blocked', label: 'blocked', statuses: ['blocked'] },
];

const W = 600;
const H = 180;
const LEFT = 28;
const BOTTOM = 18;
const TOP = 6;

export function chart(
  title: string,
  activity: Activity,
  buckets: number,
  bucketMs: number,
  since: number,
  tick: (ms: number) => string,
  tickEvery: number,
): ChartView {
  const events = Array.from({ length: buckets }, () => ({ routed: 0, unrouted: 0 }));
  const deliveries = Array.from({ length: buckets }, () => new Map<string, number>());
  for (const e of activity.events) {
    if (e.bucket < 0 || e.bucket >= buckets) continue;
    events[e.bucket]!.routed += e.routed;
    events[e.bucket]!.unrouted += e.unrouted;
  }
  for (const d of activity.deliveries) {
    if (d.bucket < 0 || d.bucket >= buckets) continue;
    const cls = STACK.find((s) => s.statuses.includes(d.status))?.cls ?? 'pending';
    const m = deliveries[d.bucket]!;
    m.set(cls, (m.get(cls) ?? 0) + d.count);
  }
  const deliveryTotal = (i: number) => [...deliveries[i]!.values()].reduce((a, b) => a + b, 0);
  let max = 1;
  for (let i = 0; i < buckets; i++) max = Math.max(max, events[i]!.routed + events[i]!.unrouted, deliveryTotal(i));
  max = niceCeil(max);

  const plotH = H - BOTTOM - TOP;
  const slot = (W - LEFT) / buckets;
  const barW = Math.max(1, (slot * 0.8) / 2);
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const bars: ChartView['svg']['bars'] = [];
  for (let i = 0; i < buckets; i++) {
    const x0 = LEFT + i * slot + slot * 0.1;
    const from = tick(since + i * bucketMs);
    let base = 0;
    for (const [cls, n, what] of [
      ['routed', events[i]!.routed, 'events that led to a delivery'],
      ['unrouted', events[i]!.unrouted, 'events with no delivery'],
    ] as const) {
      if (n === 0) continue;
      bars.push({ x: r1(x0), y: r1(y(base + n)), w: r1(barW), h: r1((n / max) * plotH), cls, label: `${from}: ${n} ${what}` });
      base += n;
    }
    base = 0;
    for (const s of STACK) {
      const n = deliveries[i]!.get(s.cls) ?? 0;
      if (n === 0) continue;
      bars.push({ x: r1(x0 + barW), y: r1(y(base + n)), w: r1(barW), h: r1((n / max) * plotH), cls: s.cls, label: `${from}: ${n} ${s.label}` });
      base += n;
    }
  }
  const grid = (Number.isInteger(max / 2) ? [0, 0.5, 1] : [0, 1]).map((f) => ({
    x1: 0,
    x2: W,
    y: r1(y(max * f)),
    ty: r1(Math.max(9, y(max * f) - 2)),
    label: String(max * f),
  }));
  const ticks: ChartView['svg']['ticks'] = [];
  for (let i = 0; i < buckets; i += tickEvery) ticks.push({ x: r1(LEFT + i * slot), y: H - 4, text: tick(since + i * bucketMs) });

  const totals: ChartView['totals'] = [
    { label: 'events', n: events.reduce((a, e) => a + e.routed + e.unrouted, 0), cls: 'routed' },
    ...STACK.map((s) => ({ label: s.label, n: deliveries.reduce((a, m) => a + (m.get(s.cls) ?? 0), 0), cls: s.cls })),
  ];
  return { title, svg: { width: W, height: H, grid, bars, ticks }, totals };
}

function niceCeil(n: number): number {
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}
