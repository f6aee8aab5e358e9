// Policy across rules changes: a reload, a replay, a retry or a mute never opens a way around a
// grant. The router and the CLI run as child processes on one database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';

type Row = { id: string; status: string; reason: string | null; privileged: number };

const rules = (url: string, opts: { privileged?: boolean; grant?: string; enabled?: boolean } = {}) => `version: 1
delivery: { max_attempts: 100, backoff: { initial: 50ms, max: 100ms } }
destinations:
  payout: { type: webhook, url: "${url}/pay", privileged: ${opts.privileged ?? false}, enabled: ${opts.enabled ?? true} }
rules:
  - { name: pay, match: { type: pay.run }, send_to: [payout] }
${opts.grant ? `policy:\n  allow_privileged:\n    - { rule: pay, destination: payout, ${opts.grant} }\n` : ''}`;

describe('policy across rules changes', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let money: HttpReceiver;
  const forEvent = (id: string) =>
    readDb(
      r.dbPath,
      (d) => d.prepare(`SELECT d.* FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = ? ORDER BY d.created_at`).all(id) as Row[],
    );
  const sentFor = (id: string) => money.requests.filter((q) => q.text && q.eventId() === id).length;
  const reload = async (text: string) => {
    const n = r.logs.filter((l) => l.msg === 'rules reloaded').length;
    writeFileSync(r.rulesPath, text);
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.filter((l) => l.msg === 'rules reloaded').length > n, { what: 'rules reloaded' });
  };
  const cli = (...args: string[]) => runCli(args, { env: { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath } });

  before(async () => {
    money = await startHttpReceiver({ defaultReply: 503 });
    r = await startRouter({ dir: tmp.dir, rules: rules('http://127.0.0.1:1') });
  });
  after(async () => {
    await r.stop();
    await money.close();
    tmp.cleanup();
  });

  test('a destination made privileged while deliveries wait: the full policy applies at send time', async () => {
    await reload(rules(money.url));
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    for (const id of ['q_old1', 'q_old2']) assert.equal((await postEvent(r.url, { id, type: 'pay.run', createdAt: old })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'q_fresh', type: 'pay.run', createdAt: new Date().toISOString() })).status, 204);
    await money.waitFor(3);
    await reload(rules(money.url, { privileged: true, grant: 'max_event_age: 10m' }));
    // Retries every 50 ms go on until the reload is in force; one claimed just before it may still
    // arrive after it (at most one per delivery). Nothing else may reach the receiver for them.
    const beforePrivileged = sentFor('q_old1') + sentFor('q_old2');
    money.setDefault(200);
    await waitFor(() => forEvent('q_fresh')[0]?.status === 'delivered', { what: 'the fresh event delivered' });
    await waitFor(() => forEvent('q_old1')[0]?.status === 'blocked' && forEvent('q_old2')[0]?.status === 'blocked', { what: 'old events blocked' });
    assert.match(forEvent('q_old1')[0]!.reason ?? '', /at send time: .*older than the max_event_age/);
    assert.equal(forEvent('q_fresh')[0]!.privileged, 1, 'now counted against max_per_hour');
    const sent = sentFor('q_old1') + sentFor('q_old2');
    assert.ok(sent - beforePrivileged <= 2, `at most the one attempt in flight per delivery after the reload (${beforePrivileged} then ${sent})`);
  });

  test('replay: a blocked pair needs allow_replay on its grant; then it is sent once', async () => {
    money.setDefault(200);
    await reload(rules(money.url, { privileged: true }));
    assert.equal((await postEvent(r.url, { id: 'rp1', type: 'pay.run', createdAt: new Date().toISOString() })).status, 204);
    assert.equal(forEvent('rp1')[0]!.status, 'blocked');

    await reload(rules(money.url, { privileged: true, grant: 'max_per_hour: 100' }));
    const refused = await cli('replay', 'rp1', '--json');
    assert.equal(refused.code, 0, refused.stderr);
    assert.match(JSON.parse(refused.stdout).lines[0].reason, /allow_replay: true/);
    assert.deepEqual(
      forEvent('rp1').map((d) => d.status),
      ['blocked'],
    );

    await reload(rules(money.url, { privileged: true, grant: 'allow_replay: true' }));
    const allowed = await cli('replay', 'rp1', '--json');
    assert.equal(JSON.parse(allowed.stdout).created, 1);
    await waitFor(() => forEvent('rp1').some((d) => d.status === 'delivered'), { what: 'the replayed delivery' });
    const again = await cli('replay', 'rp1', '--json');
    assert.equal(JSON.parse(again.stdout).created, 0);
    await waitFor(() => sentFor('rp1') === 1, { what: 'exactly one send' });
    assert.equal(forEvent('rp1').filter((d) => d.status !== 'blocked').length, 1);
  });

  test('retry of a dead privileged delivery goes through the policy again', async () => {
    await reload(rules(money.url, { privileged: true, grant: 'allow_replay: true, max_event_age: 10m' }));
    money.setDefault(400);
    const soon = new Date(Date.now() - 9 * 60_000).toISOString();
    assert.equal((await postEvent(r.url, { id: 'rt1', type: 'pay.run', createdAt: soon })).status, 204);
    await waitFor(() => forEvent('rt1')[0]?.status === 'dead', { what: 'a dead privileged delivery' });
    // The grant now refuses events this old (max_event_age shrank): retry must not resend it.
    await reload(rules(money.url, { privileged: true, grant: 'max_event_age: 1m' }));
    const res = await cli('retry', '--dead', '--json');
    const out = JSON.parse(res.stdout) as { requeued: string[]; refused: { reason: string }[] };
    assert.equal(out.requeued.length, 0);
    assert.match(out.refused[0]!.reason, /older than the max_event_age of 1m/);
    assert.equal(forEvent('rt1')[0]!.status, 'dead');
  });

  test('enabled: false mutes a destination: its queue waits, and drains when it is enabled again', async () => {
    await reload(rules(money.url));
    money.setDefault(503);
    assert.equal((await postEvent(r.url, { id: 'mute1', type: 'pay.run' })).status, 204);
    await money.waitUntil(() => sentFor('mute1') >= 1, 5000, 'a first attempt');
    await reload(rules(money.url, { enabled: false }));
    // Once no send is in flight (no claim held), nothing is claimed for a muted destination.
    const leased = () =>
      readDb(
        r.dbPath,
        (d) =>
          d.prepare(`SELECT lease_until FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = 'mute1'`).get() as {
            lease_until: number | null;
          },
      );
    await waitFor(() => leased().lease_until === null, { what: 'the last send before the mute to finish' });
    const sentWhileMuted = sentFor('mute1');
    money.setDefault(200);
    assert.equal(forEvent('mute1')[0]!.status, 'failed', 'muted: still waiting, not dead');
    await reload(rules(money.url));
    await waitFor(() => forEvent('mute1')[0]?.status === 'delivered', { what: 'delivered once enabled' });
    assert.equal(sentFor('mute1'), sentWhileMuted + 1, 'nothing was sent while muted');
  });
});

test('a second server on the same database is refused', async () => {
  const tmp = tempDir();
  const r = await startRouter({ dir: tmp.dir });
  try {
    const second = await runCli(['serve', '--db', r.dbPath, '--rules', r.rulesPath, '--port', '0', '--host', '127.0.0.1'], {
      env: { B3OS_WEBHOOK_SECRET: 'x' },
    });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /another b3os-router is serving .* one server per database/);
    assert.equal((await fetch(r.url + '/healthz')).status, 200, 'the first one is unaffected');
  } finally {
    await r.stop();
    tmp.cleanup();
  }
});
