// Policy through the running router: privileged destinations are blocked unless a grant allows
// exactly that rule, that destination and that event; no path sends twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';

type Row = { id: string; rule: string; destination: string; status: string; reason: string | null; privileged: number };

describe('privileged destinations', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let money: HttpReceiver;
  let audit: HttpReceiver;
  const rows = (where: string) =>
    readDb(r.dbPath, (d) => d.prepare(`SELECT d.* FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE ${where}`).all() as Row[]);
  const forEvent = (id: string) => rows(`e.event_id = '${id}'`);
  const now = () => new Date().toISOString();

  before(async () => {
    [money, audit] = await Promise.all([startHttpReceiver(), startHttpReceiver()]);
    r = await startRouter({
      dir: tmp.dir,
      rules: `version: 1
destinations:
  payout: { type: webhook, url: "${money.url}/pay", privileged: true }
  audit: { type: webhook, url: "${audit.url}/audit" }
rules:
  - name: ungranted
    match: { type: pay.ungranted }
    send_to: [payout, audit]
  - name: usd-only
    match: { type: pay.usd }
    send_to: [payout]
  - name: capped
    match: { type: pay.capped }
    send_to: [payout]
  - name: fresh-only
    match: { type: pay.fresh }
    send_to: [payout]
policy:
  allow_privileged:
    - rule: usd-only
      destination: payout
      when: { "==": [{ var: data.currency }, USD] }
    - rule: capped
      destination: payout
      max_per_hour: 2
    - rule: fresh-only
      destination: payout
      max_event_age: 10m
`,
    });
  });
  after(async () => {
    await r.stop();
    await Promise.all([money.close(), audit.close()]);
    tmp.cleanup();
  });

  test("no grant: blocked with a reason, while the rule's other destination delivers", async () => {
    assert.equal((await postEvent(r.url, { id: 'p1', type: 'pay.ungranted', createdAt: now() })).status, 204);
    await waitFor(() => forEvent('p1').find((d) => d.destination === 'audit' && d.status === 'delivered'), { what: 'audit delivery' });
    const blocked = forEvent('p1').find((d) => d.destination === 'payout')!;
    assert.equal(blocked.status, 'blocked');
    assert.match(blocked.reason ?? '', /privileged and no grant/);
    assert.ok(
      r.logs.some((l) => l.level === 40 && l.destination === 'payout' && l.msg === 'privileged delivery blocked by policy'),
      'logged at warn',
    );
    const metrics = await (await fetch(r.url + '/metrics')).text();
    assert.match(metrics, /b3os_router_policy_blocked_total\{rule="ungranted",destination="payout"\} 1/);
  });

  test('grant with when: true → sent; false → blocked', async () => {
    assert.equal((await postEvent(r.url, { id: 'p2', type: 'pay.usd', data: { currency: 'USD' } })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'p3', type: 'pay.usd', data: { currency: 'EUR' } })).status, 204);
    await waitFor(() => forEvent('p2')[0]?.status === 'delivered', { what: 'p2 delivered' });
    assert.equal(forEvent('p3')[0]!.status, 'blocked');
    assert.match(forEvent('p3')[0]!.reason ?? '', /"when" condition/);
    await money.waitFor(1);
    assert.ok(money.requests.every((q) => q.eventId() !== 'p3'));
  });

  test('max_event_age: fresh passes; stale and missing timestamps are blocked', async () => {
    assert.equal((await postEvent(r.url, { id: 'f1', type: 'pay.fresh', createdAt: now() })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'f2', type: 'pay.fresh', data: { timestamp: Math.floor(Date.now() / 1000) - 3600 } })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'f3', type: 'pay.fresh' })).status, 204);
    assert.equal(forEvent('f1')[0]!.status === 'blocked', false);
    assert.match(forEvent('f2')[0]!.reason ?? '', /older than the max_event_age/);
    assert.match(forEvent('f3')[0]!.reason ?? '', /no readable time/);
  });

  test('max_per_hour reached, and still reached after a restart', async () => {
    for (const id of ['c1', 'c2', 'c3']) assert.equal((await postEvent(r.url, { id, type: 'pay.capped' })).status, 204);
    assert.deepEqual(
      ['c1', 'c2', 'c3'].map((id) => forEvent(id)[0]!.status === 'blocked'),
      [false, false, true],
    );
    assert.match(forEvent('c3')[0]!.reason ?? '', /max_per_hour of 2/);
    assert.equal(await r.stop(), 0);
    r = await startRouter({ dir: tmp.dir, dbPath: r.dbPath, rulesPath: r.rulesPath });
    assert.equal((await postEvent(r.url, { id: 'c4', type: 'pay.capped' })).status, 204);
    assert.equal(forEvent('c4')[0]!.status, 'blocked');
  });

  test('a duplicate or a replay never produces a second privileged delivery', async () => {
    assert.equal((await postEvent(r.url, { id: 'p2', type: 'pay.usd', data: { currency: 'USD' } })).status, 200);
    const env = { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath };
    const res = await runCli(['replay', 'p2'], { env });
    assert.equal(res.code, 0, res.stderr);
    const blockedReplay = await runCli(['replay', 'p1', '--json'], { env });
    assert.equal(blockedReplay.code, 0, blockedReplay.stderr);
    const out = JSON.parse(blockedReplay.stdout) as { created: number; lines: { destination: string; action: string; reason: string }[] };
    assert.equal(out.lines.find((l) => l.destination === 'payout')?.action, 'blocked');
    assert.equal(forEvent('p2').filter((d) => d.destination === 'payout').length, 1);
    assert.equal(forEvent('p1').filter((d) => d.destination === 'payout' && d.status !== 'blocked').length, 0);
    const sent = money.requests.filter((q) => q.eventId() === 'p2');
    assert.equal(sent.length, 1);
  });

  test('an event with a bad signature never reaches policy', async () => {
    const before = await (await fetch(r.url + '/metrics')).text();
    const count = (t: string) => (t.match(/b3os_router_policy_blocked_total\{[^}]*\} (\d+)/g) ?? []).length;
    assert.equal((await postEvent(r.url, { id: 'evil', type: 'pay.ungranted' }, { secret: 'forged' })).status, 401);
    assert.equal(forEvent('evil').length, 0);
    const afterText = await (await fetch(r.url + '/metrics')).text();
    assert.equal(count(afterText), count(before));
    assert.doesNotMatch(afterText, /policy_blocked_total\{rule="ungranted",destination="payout"\} 2/);
  });
});
