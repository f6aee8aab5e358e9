// B5 and the admin listing risk: repeated query parameters are a 400, errors of routes other than
// the hook never count as rejected hooks, and listings carry no payloads and stay small.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRules } from '../src/config/load.js';
import { serveOptions } from '../src/config/options.js';
import { createRouter } from '../src/router.js';
import { tempDir } from './helpers/cli.js';
import { MINIMAL_RULES, SECRET, postEvent, startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'admin-secret';
const auth = { authorization: `Bearer ${TOKEN}` };

const rejectedHooks = async (url: string): Promise<number> => {
  const text = await (await fetch(url + '/metrics')).text();
  let n = 0;
  for (const m of text.matchAll(/^b3os_router_events_received_total\{outcome="rejected"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
};

describe('admin endpoints', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => {
    r = await startRouter({ dir: tmp.dir, env: { ADMIN_TOKEN: TOKEN } });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('a repeated query parameter is a 400 naming it, and is not counted as a rejected hook', async () => {
    const before = await rejectedHooks(r.url);
    for (const path of ['/admin/events?type=a&type=b', '/admin/deliveries?status=dead&status=failed', '/admin/events?limit=1&limit=2']) {
      const res = await fetch(r.url + path, { headers: auth });
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'repeated_parameter');
      assert.match(body.message, /give "(type|status|limit)" once/);
    }
    assert.equal(await rejectedHooks(r.url), before);
  });

  test('listings leave payloads out and stay small; one event has its payload at /admin/events/:id', async () => {
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 20; i++) assert.equal((await postEvent(r.url, { id: `big_${i}`, type: 'run.failed', data: { blob: big } })).status, 204);
    const res = await fetch(r.url + '/admin/events?limit=1000', { headers: auth });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.length < 100_000, `listing is ${text.length} bytes`);
    const list = JSON.parse(text) as { events: { eventId: string; bytes: number; event?: unknown; payload?: unknown }[]; truncated: boolean };
    const ev = list.events.find((e) => e.eventId === 'big_7');
    assert.ok(ev);
    assert.equal(ev.event, undefined);
    assert.equal(ev.payload, undefined);
    assert.ok(ev.bytes > 200_000);
    assert.equal(list.truncated, false);

    const one = await fetch(r.url + '/admin/events/big_7', { headers: auth });
    assert.equal(one.status, 200);
    const full = (await one.json()) as { eventId: string; event: { data: { blob: string } } };
    assert.equal(full.eventId, 'big_7');
    assert.equal(full.event.data.blob.length, 200_000);
    assert.equal((await fetch(r.url + '/admin/events/nope', { headers: auth })).status, 404);
    assert.equal((await fetch(r.url + '/admin/events/big_7')).status, 401);
  });
});

test('an error on a route other than the hook answers without counting as a rejected hook', async () => {
  const tmp = tempDir();
  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(rules, MINIMAL_RULES);
  const { config } = loadRules(rules);
  assert.ok(config);
  const router = createRouter(
    serveOptions({ rules, db: join(tmp.dir, 'r.db'), port: '0', host: '127.0.0.1' }, { B3OS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent' }),
    config,
  );
  try {
    // A route that fails, standing in for any non-hook route's unexpected error.
    router.app.get('/boom', async () => {
      throw new Error('kaboom');
    });
    const { port } = await router.listen();
    const url = `http://127.0.0.1:${port}`;
    const res = await fetch(url + '/boom');
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { message: string }).message, 'internal error');
    assert.equal(await rejectedHooks(url), 0);
    // The hook path still counts its own errors (here fastify's: not JSON).
    assert.equal((await postEvent(url, 'hello', { contentType: 'text/plain' })).status, 415);
    assert.equal(await rejectedHooks(url), 1);
  } finally {
    await router.close();
    tmp.cleanup();
  }
});
