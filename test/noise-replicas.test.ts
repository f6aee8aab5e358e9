// Noise control (contract §9) across replicas (§8): two real `serve` processes on one PostgreSQL
// database (a real server, started here; a fresh database per test), a real local receiver and
// the real CLI. Groups and silences are rows every replica reads: one digest per group per
// interval whichever replicas received the events, and a silence holds on each within a second.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, waitFor } from './helpers/cli.js';
import type { HttpReceiver } from './helpers/receivers.js';
import { queryDb, replicaSuite } from './helpers/replicas.js';
import { postEvent, type RouterProcess } from './helpers/router.js';

const suite = replicaSuite();
const query = queryDb;

const RULES = (hook: HttpReceiver) => `version: 1
destinations:
  hook: { type: webhook, url: ${hook.url}/hook, backoff: { initial: 50ms, max: 300ms } }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    send_to: [hook]
    group: { by: [data.workflowId], interval: 2s }
  - name: successes
    match: { type: run.succeeded }
    send_to: [hook]
`;

const ev = (id: string, type = 'run.failed', workflowId = 'wf_payroll') => ({
  id,
  type,
  createdAt: new Date().toISOString(),
  data: { workflowId, runId: `run_${id}` },
});

/** Two replicas on `db` with the same rules, each in its own folder; killed after the test. */
async function twoReplicas(db: string, rules: string): Promise<[RouterProcess, RouterProcess]> {
  const [a, b] = await suite.replicas(2, db, rules);
  return [a!, b!];
}

const receiver = () => suite.receiver();

describe('noise control on several replicas (PostgreSQL)', () => {
  test('a burst posted alternately to two replicas: one notification at once and ONE digest carrying every other event', { timeout: 90_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hook = await receiver();
    const [a, b] = await twoReplicas(db, RULES(hook));

    const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    assert.equal((await postEvent(a.url, ev(ids[0]!))).status, 204);
    // The rest at once, alternating between the replicas: both gather into the one group, and
    // both flushers race for it when it falls due.
    const answers = await Promise.all(ids.slice(1).map((id, i) => postEvent((i % 2 ? a : b).url, ev(id))));
    assert.deepEqual([...new Set(answers.map((x) => x.status))], [204]);

    const got = await hook.waitFor(2, 15_000);
    assert.equal(got[0]!.eventId(), ids[0], 'the opening event goes alone, at once');
    const digest = got[1]!.json<{ rule: string; count: number; group: Record<string, unknown>; events: { id: string }[] }>();
    assert.equal(digest.count, ids.length - 1);
    assert.deepEqual(digest.group, { 'data.workflowId': 'wf_payroll' });
    assert.deepEqual(digest.events.map((e) => e.id).sort(), ids.slice(1).sort(), 'every other event, whichever replica received it');

    // Nothing left to send: every gathered row linked, no flush due, two notifications delivered.
    await waitFor(
      async () => {
        const [r] = await query<{ open: number; waiting: number; undone: number }>(
          db,
          `SELECT (SELECT count(*) FROM groups WHERE flush_at IS NOT NULL)::int AS open,
                  (SELECT count(*) FROM group_events WHERE delivery_id IS NULL)::int AS waiting,
                  (SELECT count(*) FROM deliveries WHERE status <> 'delivered')::int AS undone`,
        );
        return r!.open === 0 && r!.waiting === 0 && r!.undone === 0;
      },
      { timeoutMs: 15_000, what: 'the group flushed and both notifications delivered' },
    );
    const rows = await query<{ n: number }>(db, `SELECT event_count AS n FROM deliveries ORDER BY created_at`);
    assert.deepEqual(
      rows.map((r) => r.n),
      [1, ids.length - 1],
      'one digest for the interval, not one per replica',
    );
    assert.equal(hook.requests.length, 2);
    const [links] = await query<{ n: number; digests: number }>(db, `SELECT count(*)::int AS n, count(DISTINCT delivery_id)::int AS digests FROM group_events`);
    assert.deepEqual(links, { n: ids.length, digests: 2 });

    // The CLI reads the same from the shared database.
    const explained = await runCli(['explain', ids[7]!, '--db', db, '--rules', a.rulesPath]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, new RegExp(`carried by the digest \\S+ with ${ids.length - 1} events, delivered`));
  });

  test('a silence added with the CLI (`silence add --db postgres://…`) holds on both replicas within a second', { timeout: 90_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hook = await receiver();
    const [a, b] = await twoReplicas(db, RULES(hook));

    const added = await runCli([
      'silence',
      'add',
      '--db',
      db,
      '--rules',
      a.rulesPath,
      '--rule',
      'successes',
      '--for',
      '10m',
      '--comment',
      'deploying',
      '--json',
    ]);
    assert.equal(added.code, 0, added.stderr);
    const addedAt = Date.now();
    const id = (JSON.parse(added.stdout) as { id: string }).id;

    // Each replica: one event every 50 ms until one is silenced; the first must come within a second.
    let n = 0;
    const firstSilenced = async (r: RouterProcess, name: string): Promise<number> => {
      let at = 0;
      await waitFor(
        async () => {
          const eventId = `hold-${name}-${n++}`;
          const posted = Date.now();
          assert.equal((await postEvent(r.url, ev(eventId, 'run.succeeded'))).status, 204);
          const [row] = await query<{ status: string; reason: string }>(
            db,
            `SELECT d.status, d.reason FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = $1`,
            [eventId],
          );
          if (row?.status === 'silenced') {
            assert.match(row.reason, new RegExp(`silence ${id} \\("deploying"\\)`));
            at = posted;
          }
          return at > 0;
        },
        { timeoutMs: 5_000, intervalMs: 50, what: `an event silenced on replica ${name}` },
      );
      return at;
    };
    const [atA, atB] = await Promise.all([firstSilenced(a, 'a'), firstSilenced(b, 'b')]);
    assert.ok(atA - addedAt < 1_000, `replica a: silenced ${atA - addedAt} ms after silence add`);
    assert.ok(atB - addedAt < 1_000, `replica b: silenced ${atB - addedAt} ms after silence add`);

    // What it does not match still goes, from either replica; `silence expire` ends it for both.
    assert.equal((await postEvent(b.url, ev('other', 'run.failed', 'wf_other'))).status, 204);
    await hook.waitUntil(() => hook.requests.some((q) => q.json<{ event?: { id: string } }>().event?.id === 'other'), 10_000, 'the unsilenced event');
    const expired = await runCli(['silence', 'expire', id, '--db', db]);
    assert.equal(expired.code, 0, expired.stderr);
    const listed = await runCli(['silence', 'list', '--db', db]);
    assert.equal(listed.stdout, 'no active silences\n');
    for (const [r, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      await waitFor(
        async () => {
          const eventId = `after-${name}-${n++}`;
          await postEvent(r.url, ev(eventId, 'run.succeeded'));
          const [row] = await query<{ status: string }>(db, `SELECT d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = $1`, [
            eventId,
          ]);
          return row !== undefined && row.status !== 'silenced';
        },
        { timeoutMs: 5_000, intervalMs: 50, what: `replica ${name} sending again after the expiry` },
      );
    }
  });
});
