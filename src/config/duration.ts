// Durations in the rules file ("500ms", "10s", "5m", "1h", "30d"), read with the `ms` package.
import ms from 'ms';

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

const EXAMPLES = '"500ms", "10s", "5m", "1h" or "30d"';

/**
 * A positive duration in milliseconds. A bare number is refused even though `ms` would read it
 * as milliseconds: "timeout: 10" is far more likely to mean seconds, so we ask for the unit.
 */
export function parseDuration(text: unknown): DurationResult {
  if (typeof text !== 'string' || text.trim() === '') {
    return { ok: false, message: `should be a duration such as ${EXAMPLES}` };
  }
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    return { ok: false, message: `is "${t}" without a unit; write it with one, e.g. "${t}s" for seconds or "${t}ms" for milliseconds` };
  }
  let value: number | undefined;
  try {
    value = ms(t as ms.StringValue);
  } catch {
    value = undefined;
  }
  if (value === undefined || !Number.isFinite(value)) {
    return { ok: false, message: `is "${t}", which is not a duration; write one such as ${EXAMPLES}` };
  }
  if (value <= 0) return { ok: false, message: `is "${t}"; it should be longer than zero` };
  return { ok: true, ms: Math.round(value) };
}
