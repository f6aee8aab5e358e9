// A duration shown back to people, in the largest whole unit a person would write (600000 → "10m",
// 5400000 → "90m", 90061000 → "25h"). Here, in the kernel, so that grouping's echo of the rules
// file (route) and policy's refusals (policy) are one function.

const UNITS: [number, string][] = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1000, 's'],
];

/**
 * A duration no whole unit divides is shown `exact` (1500 → "1500ms": a value from the rules file,
 * echoed as it can be written back) or `rounded` (1500 → "2s": a measured age, where the
 * milliseconds are noise).
 */
export function showDuration(ms: number, otherwise: 'exact' | 'rounded' = 'exact'): string {
  for (const [size, unit] of UNITS) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  if (otherwise === 'exact') return `${ms}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)}h`;
  return `${Math.round(ms / 86_400_000)}d`;
}
