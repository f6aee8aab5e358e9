// promtool (Prometheus's own linter) for tests that check a /metrics page. .ci/run extracts it
// from Debian's prometheus package and sets PROMTOOL and REQUIRE_PROMTOOL=1; elsewhere it is
// whatever `promtool` is on PATH, and tests that need it skip with a message when there is none.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/** Absolute path of promtool ($PROMTOOL, else on PATH), or undefined. */
export function findPromtool(): string | undefined {
  const candidates = process.env.PROMTOOL
    ? [process.env.PROMTOOL]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, 'promtool'));
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * promtool's path for a test, or undefined after skipping the test with a message. Under
 * REQUIRE_PROMTOOL=1 (CI) a missing promtool fails the test instead: CI must really check.
 */
export function promtoolOrSkip(t: TestContext): string | undefined {
  const p = findPromtool();
  if (p) return p;
  const msg = process.env.PROMTOOL
    ? `PROMTOOL=${process.env.PROMTOOL} is not an executable file`
    : 'promtool is not installed (Debian: it ships in the prometheus package; .ci/run extracts it)';
  if (process.env.REQUIRE_PROMTOOL === '1') throw new Error(`${msg}, and REQUIRE_PROMTOOL=1 says this run must check metrics`);
  t.skip(msg);
  return undefined;
}

/** `promtool check metrics` on an exposition text: ok, or its complaints one per line. */
export function checkMetrics(promtool: string, exposition: string): { ok: boolean; problems: string[]; status: number | null } {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  const problems = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return { ok: r.status === 0, problems, status: r.status };
}
