// max_per_hour holds on every path that lets a privileged delivery out: deliveries queued before
// their destination became privileged (decided at send time, many claimed at once), and `retry
// --dead`. The real router, the real CLI and a real receiver; counts read from the real database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';

type Row = { id: string; status: string; reason: string | null; privileged: number };

/** Per destination: privileged with a grant capped at `cap`, or plain; enabled or muted. */
type DestState = { cap?: number; enabled?: boolean; maxAge?: string };

const DESTS = { payout: 'pay.run', pairout: 'pair.run', refund: 'refund.run', payback: 'payback.run' } as const;
type Dest = keyof typeof DESTS;

const rules = (url: string, state: Partial<Record<Dest, DestState>> = {}) => {
  const dests = (Object.keys(DESTS) as Dest[]).map((d) => {
    const s = state[d] ?? {};
    return `  ${d}: { type: webhook, url: "${url}/${d}", privileged: ${s.cap !== undefined}, enabled: ${s.enabled ?? true} }`;
  });
  const ruleLines = (Object.keys(DESTS) as Dest[]).map((d) => `  - { name: ${d}-rule, match: { type: ${DESTS[d]} }, send_to: [${d}] }`);
  const grants = (Object.keys(DESTS) as Dest[])
    .filter((d) => state[d]?.cap !== undefined)
    .map(
      (d) => `    - { rule: ${d}-rule, destination: ${d}, max_per_hour: ${state[d]!.cap}${state[d]!.maxAge ? `, max_event_age: ${state[d]!.maxAge}` : ''} }`,
    );
  return `version: 1
delivery: { max_attempts: 100, backoff: { initial: 50ms, max: 100ms } }
destinations:
${dests.join('\n')}
rules:
${ruleLines.join('\n')}
${grants.length ? `policy:\n  allow_privileged:\n${grants.join('\n')}\n` : ''}`;
};

describe('max_per_hour on every path', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let rx: HttpReceiver;
  /** How the receiver answers, per destination path. */
  const answer: Record<Dest, number> = { payout: 503, pairout: 503, refund: 400, payback: 400 };
  const rows = (dest: Dest) =>
    readDb(r.dbPath, (d) => d.prepare(`SELECT * FROM deliveries WHERE destination = ? ORDER BY created_at, rowid`).all(dest) as Row[]);
  const sent = (dest: Dest) => rx.requests.filter((q) => q.path === `/${dest}`).length;
  const reload = async (text: string) => {
    const n = r.logs.filter((l) => l.msg === 'rules reloaded').length;
    writeFileSync(r.rulesPath, text);
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.filter((l) => l.msg === 'rules reloaded').length > n, { what: 'rules reloaded' });
  };
  const post = async (dest: Dest, n: number) => {
    for (let i = 0; i < n; i++)
      assert.equal((await postEvent(r.url, { id: `${dest}-${i}`, type: DESTS[dest], createdAt: new Date().toISOString() })).status, 204);
  };
  const settled = (dest: Dest) => rows(dest).every((d) => d.status === 'delivered' || d.status === 'blocked');
  const count = (list: Row[], status: string) => list.filter((d) => d.status === status).length;

  before(async () => {
    rx = await startHttpReceiver({ defaultReply: (req) => answer[req.path.slice(1) as Dest] ?? 404 });
    r = await startRouter({ dir: tmp.dir, rules: rules(rx.url) });
  });
  after(async () => {
    await r.stop();
    await rx.close();
    tmp.cleanup();
  });

  test('deliveries queued before their destination became privileged: the cap holds when many are claimed at once', async () => {
    // Ten (and a pair) wait on a failing receiver; then muted until no send is in flight.
    await post('payout', 10);
    await post('pairout', 2);
    await waitFor(() => sent('payout') >= 10 && sent('pairout') >= 2, { what: 'a first attempt each' });
    await reload(rules(rx.url, { payout: { enabled: false }, pairout: { enabled: false } }));
    const leased = () => readDb(r.dbPath, (d) => d.prepare(`SELECT count(*) AS n FROM deliveries WHERE lease_until IS NOT NULL`).get() as { n: number }).n;
    await waitFor(() => leased() === 0, { what: 'the sends in flight to finish' });
    const before = { payout: sent('payout'), pairout: sent('pairout') };
    answer.payout = 200;
    answer.pairout = 200;

    // Privileged now, capped, and every delivery due at once (default concurrency: all claimed together).
    await reload(rules(rx.url, { payout: { cap: 2 }, pairout: { cap: 1 } }));
    await waitFor(() => settled('payout') && settled('pairout'), { what: 'every delivery sent or blocked' });

    const pay = rows('payout');
    assert.equal(count(pay, 'delivered'), 2, 'max_per_hour: 2');
    assert.equal(count(pay, 'blocked'), 8);
    assert.equal(sent('payout') - before.payout, 2, 'the receiver got exactly two');
    for (const d of pay.filter((x) => x.status === 'blocked')) assert.match(d.reason ?? '', /^at send time: max_per_hour of 2 .* is used up/);
    for (const d of pay.filter((x) => x.status === 'delivered')) assert.equal(d.privileged, 1, 'counted');

    // The race named in issue 12: two sends of a pair, both reading the count before either is marked.
    const pair = rows('pairout');
    assert.deepEqual([count(pair, 'delivered'), count(pair, 'blocked')], [1, 1], 'max_per_hour: 1 over a pair');
    assert.equal(sent('pairout') - before.pairout, 1);
  });

  test('retry --dead of dead privileged deliveries requeues only what the cap allows, and they are sent', async () => {
    await post('refund', 10);
    await waitFor(() => rows('refund').length === 10 && rows('refund').every((d) => d.status === 'dead'), { what: 'ten dead deliveries' });
    answer.refund = 200;
    const before = sent('refund');
    await reload(rules(rx.url, { payout: { cap: 2 }, pairout: { cap: 1 }, refund: { cap: 2 } }));

    const res = await runCli(['retry', '--dead', '--destination', 'refund', '--json'], { env: { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath } });
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { requeued: string[]; refused: { id: string; reason: string }[] };
    assert.equal(out.requeued.length, 2, 'max_per_hour: 2');
    assert.equal(out.refused.length, 8);
    for (const f of out.refused) assert.match(f.reason, /max_per_hour of 2 .* is used up \(2 in the last hour\)/);

    await waitFor(() => count(rows('refund'), 'delivered') === 2, { what: 'the two retried deliveries sent' });
    // Counted once, as of the retry: not counted again (and blocked) at send time.
    assert.equal(count(rows('refund'), 'blocked'), 0);
    assert.equal(count(rows('refund'), 'dead'), 8);
    assert.equal(sent('refund') - before, 2);

    // A second retry finds the hour used up.
    const again = await runCli(['retry', '--dead', '--destination', 'refund', '--json'], { env: { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath } });
    const out2 = JSON.parse(again.stdout) as { requeued: string[]; refused: unknown[] };
    assert.deepEqual([out2.requeued.length, out2.refused.length], [0, 8]);
    assert.equal(again.code, 1);
  });

  test("retry with another rules file (one that does not call the destination privileged) cannot get round the server's policy", async () => {
    // Allowed at ingest (the event was 1 s old, under max_event_age: 3s), then dead on a 400.
    const capped = { payout: { cap: 2 }, pairout: { cap: 1 }, refund: { cap: 2 }, payback: { cap: 10, maxAge: '3s' } };
    await reload(rules(rx.url, capped));
    const createdAt = Date.now() - 1_000;
    assert.equal((await postEvent(r.url, { id: 'payback-0', type: DESTS.payback, createdAt: new Date(createdAt).toISOString() })).status, 204);
    await waitFor(() => rows('payback')[0]?.status === 'dead', { what: 'the payback delivery dead' });
    assert.equal(rows('payback')[0]!.privileged, 1, 'allowed and counted at ingest');
    answer.payback = 200;
    await waitFor(() => Date.now() > createdAt + 3_500, { what: 'the event older than max_event_age', timeoutMs: 10_000 });

    // The CLI's file says payback is a plain destination, so the retry requeues it; the serving
    // worker decides at send time by its own rules, where the event is now too old.
    const other = `${tmp.dir}/other-rules.yaml`;
    writeFileSync(other, rules(rx.url));
    const before = sent('payback');
    const res = await runCli(['retry', '--dead', '--destination', 'payback', '--json'], { env: { RULES_FILE: other, DB_PATH: r.dbPath } });
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { requeued: string[] }).requeued.length, 1);
    await waitFor(() => rows('payback')[0]?.status === 'blocked', { what: 'blocked at send time' });
    assert.match(rows('payback')[0]!.reason ?? '', /^at send time: the event is \d+s old, older than the max_event_age of 3s/);
    assert.equal(sent('payback') - before, 0, 'nothing more reached the receiver');
  });
});
