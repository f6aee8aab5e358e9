// A running router's /metrics passes `promtool check metrics` (Prometheus's own linter), after
// traffic of every kind has created its series: accepted, duplicate, rejected and blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from './helpers/cli.js';
import { checkMetrics, promtoolOrSkip } from './helpers/promtool.js';
import { startHttpReceiver } from './helpers/receivers.js';
import { postEvent, startRouter } from './helpers/router.js';

test('/metrics of a running router passes promtool check metrics', async (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const tmp = tempDir();
  const hook = await startHttpReceiver();
  const r = await startRouter({
    dir: tmp.dir,
    rules: `version: 1
destinations:
  hook: { type: webhook, url: "${hook.url}/in" }
  vault: { type: webhook, url: "${hook.url}/vault", privileged: true }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook, vault] }
`,
  });
  try {
    assert.equal((await postEvent(r.url, { id: 'evt_m_1', type: 'run.failed' })).status, 204, 'accepted (vault blocked)');
    assert.equal((await postEvent(r.url, { id: 'evt_m_1', type: 'run.failed' })).status, 200, 'duplicate');
    assert.equal((await postEvent(r.url, { id: 'evt_m_2', type: 'run.failed' }, { secret: 'wrong' })).status, 401, 'rejected');
    await hook.waitFor(1);
    const res = await fetch(`${r.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const series of [
      'b3os_router_events_received_total{outcome="accepted"',
      'b3os_router_events_received_total{outcome="duplicate"',
      'b3os_router_events_received_total{outcome="rejected"',
      'b3os_router_policy_blocked_total{rule="all",destination="vault"}',
      'b3os_router_process_cpu_seconds_total',
      'b3os_router_nodejs_active_handles{',
    ]) {
      assert.ok(text.includes(series), `/metrics has ${series}`);
    }
    assert.deepEqual(checkMetrics(promtool, text), { ok: true, problems: [], status: 0 });
  } finally {
    await r.stop();
    await hook.close();
    tmp.cleanup();
  }
});
