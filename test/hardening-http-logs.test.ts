// A flood of bad-signature hooks writes a few log lines and one "suppressed" line, not a line per
// request, while the metric counts every one. A real router, its pino output captured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { loadRules } from '../src/config/load.js';
import { serveOptions } from '../src/config/options.js';
import { createRouter } from '../src/router.js';
import { tempDir, waitFor } from './helpers/cli.js';
import { MINIMAL_RULES, SECRET } from './helpers/router.js';

test('2,000 bad signatures: at most 10 warn lines per reason per window, a suppressed line, exact counters', async () => {
  const tmp = tempDir();
  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(rules, MINIMAL_RULES);
  const { config } = loadRules(rules);
  assert.ok(config);
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const router = createRouter(serveOptions({ rules, db: join(tmp.dir, 'r.db'), port: '0', host: '127.0.0.1' }, { B3OS_WEBHOOK_SECRET: SECRET }), config, {
    logger,
    rejectLog: { windowMs: 60_000 },
  });
  try {
    await router.listen();
    const N = 2000;
    for (let i = 0; i < N; i++) {
      const res = await router.app.inject({
        method: 'POST',
        url: '/b3os/hooks',
        headers: { 'content-type': 'application/json', 'x-b3os-signature': 'sha256=' + '0'.repeat(64) },
        payload: `{"id":"e${i}"}`,
      });
      assert.equal(res.statusCode, 401);
    }
    // Twenty more without any signature: another reason, its own ten lines.
    for (let i = 0; i < 20; i++) {
      const res = await router.app.inject({ method: 'POST', url: '/b3os/hooks', headers: { 'content-type': 'application/json' }, payload: '{}' });
      assert.equal(res.statusCode, 401);
    }
    const rejectedLines = lines.filter((l) => String(l.msg).startsWith('hook rejected'));
    const byReason = new Map<string, number>();
    for (const l of rejectedLines) byReason.set(String(l.reason), (byReason.get(String(l.reason)) ?? 0) + 1);
    assert.ok(byReason.size === 2, JSON.stringify([...byReason]));
    for (const [reason, n] of byReason) assert.equal(n, 10, reason);

    const text = await router.metrics.registry.metrics();
    const counted = [...text.matchAll(/^b3os_router_events_received_total\{outcome="rejected"[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(counted, N + 20);

    await router.close();
    const summary = await waitFor(() => lines.find((l) => typeof l.suppressed === 'number'), { timeoutMs: 2000, what: 'the suppressed line' });
    // Every rejection beyond the ten lines each of the two reasons was allowed.
    assert.equal(summary.suppressed, N + 20 - 2 * 10);
  } finally {
    await router.close();
    tmp.cleanup();
  }
});

test('the suppressed line comes when the window ends, without a further rejection', async () => {
  const tmp = tempDir();
  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(rules, MINIMAL_RULES);
  const { config } = loadRules(rules);
  assert.ok(config);
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const router = createRouter(serveOptions({ rules, db: join(tmp.dir, 'r.db'), port: '0', host: '127.0.0.1' }, { B3OS_WEBHOOK_SECRET: SECRET }), config, {
    logger,
    rejectLog: { windowMs: 300, linesPerReason: 2 },
  });
  try {
    for (let i = 0; i < 7; i++) {
      await router.app.inject({ method: 'POST', url: '/b3os/hooks', headers: { 'content-type': 'application/json' }, payload: '{}' });
    }
    const summary = await waitFor(() => lines.find((l) => typeof l.suppressed === 'number'), { timeoutMs: 3000, what: 'the suppressed line' });
    assert.equal(summary.suppressed, 5);
    assert.equal(lines.filter((l) => String(l.msg).startsWith('hook rejected')).length, 2);
  } finally {
    await router.close();
    tmp.cleanup();
  }
});
