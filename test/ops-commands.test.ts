// The operating commands against a database filled by a running router (both child processes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';

const rulesV1 = (hook: string, flaky: string) => `version: 1
delivery: { max_attempts: 2, backoff: { initial: 50ms, max: 100ms } }
destinations:
  hook: { type: webhook, url: "${hook}/hook" }
  flaky: { type: webhook, url: "${flaky}/flaky" }
  vault: { type: webhook, url: "${hook}/vault", privileged: true }
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [hook]
  - name: flaky-failures
    match: { type: run.failed, data.workflowId: wf_flaky }
    send_to: [flaky]
  - name: never
    match: { type: run.cancelled }
    send_to: [hook]
`;

describe('operating commands', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let hook: HttpReceiver;
  let flaky: HttpReceiver;
  let env: Record<string, string>;
  const cli = async (...args: string[]) => {
    const res = await runCli(args, { env });
    return res;
  };
  const json = async <T>(...args: string[]): Promise<T> => {
    const res = await cli(...args, '--json');
    assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  };
  const status = (id: string) =>
    readDb(
      r.dbPath,
      (d) =>
        d.prepare(`SELECT d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = ? ORDER BY d.created_at`).all(id) as {
          status: string;
        }[],
    ).map((x) => x.status);

  before(async () => {
    [hook, flaky] = await Promise.all([startHttpReceiver(), startHttpReceiver({ defaultReply: 400 })]);
    r = await startRouter({ dir: tmp.dir, rules: rulesV1(hook.url, flaky.url), env: { ADMIN_TOKEN: 'admin-secret' } });
    env = { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath };
    for (let i = 1; i <= 3; i++) assert.equal((await postEvent(r.url, { id: `ops_${i}`, type: 'run.failed', data: { workflowId: 'wf_a' } })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'ops_ok', type: 'run.succeeded', data: { workflowId: 'wf_a' } })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'ops_flaky', type: 'run.failed', data: { workflowId: 'wf_flaky' } })).status, 204);
    await waitFor(() => status('ops_flaky').includes('dead') && status('ops_3').includes('delivered'), { what: 'deliveries to settle' });
  });
  after(async () => {
    await r.stop();
    await Promise.all([hook.close(), flaky.close()]);
    tmp.cleanup();
  });

  test('events: newest first, --type and --limit', async () => {
    const all = await json<{ events: { eventId: string; type: string; key: string }[] }>('events');
    assert.deepEqual(
      all.events.map((e) => e.eventId),
      ['ops_flaky', 'ops_ok', 'ops_3', 'ops_2', 'ops_1'],
    );
    const failed = await json<{ events: { type: string }[] }>('events', '--type', 'run.succeeded');
    assert.deepEqual(
      failed.events.map((e) => e.type),
      ['run.succeeded'],
    );
    assert.equal((await json<{ events: unknown[] }>('events', '--limit', '2')).events.length, 2);
    const table = await cli('events', '--since', '1h');
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^RECEIVED\s+TYPE\s+EVENT/);
    assert.match(table.stdout, /id:ops_1/);
  });

  test('deliveries: by status and destination', async () => {
    const dead = await json<{ deliveries: { destination: string; status: string; reason: string }[] }>('deliveries', '--status', 'dead');
    assert.equal(dead.deliveries.length, 1);
    assert.equal(dead.deliveries[0]!.destination, 'flaky');
    assert.match(dead.deliveries[0]!.reason, /400/);
    const toHook = await json<{ deliveries: unknown[] }>('deliveries', '--destination', 'hook', '--status', 'delivered');
    assert.equal(toHook.deliveries.length, 4);
    const bad = await cli('deliveries', '--status', 'lost');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status is one of pending, delivered, failed, dead, blocked/);
  });

  test('explain: every rule with its reason, each delivery and attempt, in sentences', async () => {
    assert.equal((await postEvent(r.url, { id: 'ops_flaky', type: 'run.failed', data: { workflowId: 'wf_flaky' } })).status, 200);
    const res = await cli('explain', 'ops_flaky');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^Event ops_flaky \(run\.failed\) was received at \S+ and seen 1 more time\(s\) as a duplicate, last at \S+\.$/m);
    assert.match(res.stdout, /Rule "failures" matched/);
    assert.match(res.stdout, /Rule "flaky-failures" matched/);
    assert.match(res.stdout, /Rule "never" did not match: type does not match/);
    assert.match(res.stdout, /→ "flaky"\) is dead after 1 attempt\(s\)/);
    assert.match(res.stdout, /attempt 1 at .*failed for good \(400\)/);
    const byKey = await json<{ rules: { rule: string; matched: boolean }[] }>('explain', 'id:ops_1');
    assert.deepEqual(
      byKey.rules.filter((x) => x.matched).map((x) => x.rule),
      ['failures'],
    );
    const missing = await cli('explain', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no stored event with id or key "nope"/);
    const missingJson = await cli('explain', 'nope', '--json');
    assert.equal(missingJson.code, 1);
    assert.match((JSON.parse(missingJson.stdout) as { error: string }).error, /no stored event/, '--json: one JSON document, even on failure');
  });

  test('retry moves dead to pending and the running server delivers it', async () => {
    flaky.setDefault(200);
    const res = await cli('retry', '--dead', '--destination', 'flaky');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /1 dead delivery put back to pending/);
    await waitFor(() => status('ops_flaky').includes('delivered'), { timeoutMs: 5000, what: 'the retried delivery' });
    const again = await cli('retry', '--dead');
    assert.match(again.stdout, /no dead deliveries/);
  });

  test('diff shows what a rules change would change', async () => {
    const next = join(tmp.dir, 'next.yaml');
    writeFileSync(next, rulesV1(hook.url, flaky.url).replace('match: { type: run.cancelled }', 'match: { type: run.succeeded }'));
    const res = await cli('diff', '--rules', next, '--current', r.rulesPath);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /1 event would now also go to hook/);
    assert.match(res.stdout, /rule "never" would match 1 event \(now 0\)/);
    const same = await json<{ sentences: string[] }>('diff', '--rules', r.rulesPath);
    assert.match(same.sentences[0]!, /no change for the last 5 events/);
  });

  test('SIGHUP: a valid file is reloaded, an invalid one refused, and replay never duplicates', async () => {
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(r.url + '/metrics')).text())?.[1]);
    writeFileSync(r.rulesPath, rulesV1(hook.url, flaky.url).replace('match: { type: run.cancelled }', 'match: { type: run.succeeded }'));
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.some((l) => l.msg === 'rules reloaded'), { what: 'rules reloaded' });
    assert.equal(await metric('b3os_router_rules_reload_success'), 1);

    const dry = await json<{ created: number; dryRun: boolean }>('replay', '--since', '1h', '--dry-run');
    assert.equal(dry.created, 1, 'only ops_ok newly matches');
    assert.equal(status('ops_ok').length, 0, 'dry run wrote nothing');
    const res = await cli('replay', '--since', '1h');
    assert.equal(res.code, 0, res.stderr);
    await waitFor(() => status('ops_ok').includes('delivered'), { timeoutMs: 5000, what: 'the replayed delivery' });
    const second = await json<{ created: number }>('replay', '--since', '1h');
    assert.equal(second.created, 0, 'a second replay creates nothing');
    assert.equal(hook.requests.filter((q) => q.eventId() === 'ops_1').length, 1);

    writeFileSync(r.rulesPath, 'version: 1\nrules:\n  - name: x\n    send_to: [nowhere]\n');
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), { what: 'reload refused' });
    assert.equal(await metric('b3os_router_rules_reload_success'), 0);
    assert.ok((await metric('b3os_router_rules_last_reload_timestamp_seconds')) > Date.now() / 1000 - 60);
    assert.equal((await postEvent(r.url, { id: 'ops_after', type: 'run.failed', data: {} })).status, 204);
    await waitFor(() => status('ops_after').includes('delivered'), { what: 'the last good rules still route' });
    // Leave a valid file for the commands that follow (the server keeps its last good rules anyway).
    writeFileSync(r.rulesPath, rulesV1(hook.url, flaky.url));
  });

  test('metrics change as events flow', async () => {
    const text = async () => (await fetch(r.url + '/metrics')).text();
    const before = await text();
    const accepted = (t: string) => Number(/b3os_router_events_received_total\{outcome="accepted",reason=""\} (\d+)/.exec(t)?.[1] ?? 0);
    assert.equal((await postEvent(r.url, { id: 'ops_m', type: 'run.failed' })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'ops_m', type: 'run.failed' })).status, 200);
    assert.equal((await postEvent(r.url, { id: 'ops_m2' }, { secret: 'bad' })).status, 401);
    const afterText = await text();
    assert.equal(accepted(afterText), accepted(before) + 1);
    assert.match(afterText, /b3os_router_events_received_total\{outcome="duplicate",reason=""\} [1-9]/);
    assert.match(afterText, /b3os_router_events_received_total\{outcome="rejected",reason="signature_mismatch"\} [1-9]/);
    assert.match(afterText, /b3os_router_deliveries_total\{destination="hook",status="delivered"\} [1-9]/);
    assert.match(afterText, /b3os_router_delivery_attempt_duration_seconds_bucket\{le="[^"]+",channel="webhook",outcome="delivered"\}/);
    assert.match(afterText, /b3os_router_deliveries_pending \d+/);
    assert.match(afterText, /b3os_router_build_info\{version="[^"]+",node="v\d+/);
    assert.match(afterText, /b3os_router_process_cpu_seconds_total/);
  });

  test('admin endpoints refuse a missing or wrong token', async () => {
    assert.equal((await fetch(r.url + '/admin/events')).status, 401);
    assert.equal((await fetch(r.url + '/admin/events', { headers: { authorization: 'Bearer nope' } })).status, 401);
    const ok = await fetch(r.url + '/admin/events?limit=2', { headers: { authorization: 'Bearer admin-secret' } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { events: unknown[] }).events.length, 2);
    const ex = await fetch(r.url + '/admin/events/ops_1/explain', { headers: { authorization: 'Bearer admin-secret' } });
    assert.equal(ex.status, 200);
    assert.ok(((await ex.json()) as { sentences: string[] }).sentences.length > 2);
    const dl = await fetch(r.url + '/admin/deliveries?status=delivered', { headers: { authorization: 'Bearer admin-secret' } });
    assert.equal(dl.status, 200);
  });

  test('ping: accepted → 0; refused → 1 with the reason; privileged → refused', async () => {
    const ok = await cli('ping', 'hook');
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /hook: test message accepted/);
    assert.equal(hook.requests.at(-1)!.headers['x-b3os-router-test'], '1');
    flaky.reply(500);
    const bad = await cli('ping', 'flaky');
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /NOT accepted \(500\)/);
    const vault = await cli('ping', 'vault');
    assert.equal(vault.code, 1);
    assert.match(vault.stderr, /privileged/);
  });
});

test('admin endpoints answer 404 while ADMIN_TOKEN is unset', async () => {
  const tmp = tempDir();
  const r = await startRouter({ dir: tmp.dir });
  try {
    assert.equal((await fetch(r.url + '/admin/events')).status, 404);
    assert.equal((await fetch(r.url + '/admin/events', { headers: { authorization: 'Bearer x' } })).status, 404);
  } finally {
    await r.stop();
    tmp.cleanup();
  }
});
