// The promtool helper on hand-made exposition text (the router's own /metrics is checked by its
// own test): a clean page passes, a lint problem is reported by metric name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMetrics, promtoolOrSkip } from './helpers/promtool.js';

test('promtool check metrics: a clean page passes, a gauge named _total is reported', (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const good = '# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total 1\n';
  assert.deepEqual(checkMetrics(promtool, good), { ok: true, problems: [], status: 0 });
  const bad = '# HELP demo_open_total Open things.\n# TYPE demo_open_total gauge\ndemo_open_total 1\n';
  const r = checkMetrics(promtool, bad);
  assert.equal(r.ok, false);
  assert.deepEqual(r.problems, ['demo_open_total non-counter metrics should not have "_total" suffix']);
});
