// The browser test helper itself: a page from a local fastify on 127.0.0.1, a form filled and a
// button clicked, escaped hostile text that must not run, a screenshot, and no network beyond
// loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { tempDir } from './helpers/cli.js';
import { launchBrowser, type TestBrowser } from './helpers/browser.js';
import { processesNaming } from './helpers/processes.js';

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>';
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>infra</title></head>
<body>
  <form id="f"><input id="name" name="name"><button id="go" type="submit">Go</button></form>
  <p id="out"></p>
  <p id="note">${escapeHtml(HOSTILE)}</p>
  <script>
    document.getElementById('f').addEventListener('submit', async (e) => {
      e.preventDefault();
      const r = await fetch('/echo?name=' + encodeURIComponent(document.getElementById('name').value));
      document.getElementById('out').textContent = 'hello ' + (await r.json()).name;
    });
  </script>
</body></html>`;

describe('test helper: launchBrowser', () => {
  const tmp = tempDir();
  let app: FastifyInstance;
  let base: string;
  let b: TestBrowser;
  before(async () => {
    app = Fastify();
    app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
    app.get('/echo', (req, reply) => reply.send({ name: (req.query as { name?: string }).name ?? '' }));
    app.get('/outside', (_req, reply) =>
      reply.type('text/html').send('<img src="http://example.com/pixel.png"><img src="http://93.184.215.14/p.png"><p id="done">ok</p>'),
    );
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    b = await launchBrowser();
  });
  after(async () => {
    await b?.close();
    await app?.close();
    tmp.cleanup();
  });

  test('fills a form, clicks, reads the answer; escaped hostile text shows as text and fires no dialog', async (t) => {
    t.diagnostic(`browser launch ${b.launchMs} ms`);
    const page = await b.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.type('#name', 'Ada & <b>Bob</b>');
    await page.click('#go');
    await page.waitForFunction(() => document.getElementById('out')!.textContent!.startsWith('hello'));
    assert.equal(await page.$eval('#out', (e) => e.textContent), 'hello Ada & <b>Bob</b>');
    assert.equal(await page.$eval('#note', (e) => e.textContent), HOSTILE);
    assert.equal(await page.$$eval('#note script, #note img', (els) => els.length), 0);
    // A dialog would have been raised while parsing; prove the listener works with a real one.
    await page.evaluate(() => setTimeout(() => alert('probe'), 0));
    const deadline = Date.now() + 5_000;
    while (!dialogs.includes('probe') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(dialogs, ['probe']);

    const shot = join(tmp.dir, 'page.png');
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    const png = readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(png.length > 1000);
    await page.close();
  });

  test('requests beyond loopback are blocked and recorded, by name or by address', async () => {
    const page = await b.newPage();
    await page.goto(base + '/outside', { waitUntil: 'load' });
    assert.equal(await page.$eval('#done', (e) => e.textContent), 'ok');
    assert.deepEqual([...b.blocked].sort(), ['http://93.184.215.14/p.png', 'http://example.com/pixel.png']);
    await page.close();
  });

  test('close() leaves no browser process and removes the profile', async () => {
    const other = await launchBrowser();
    assert.ok(processesNaming(other.userDataDir).length > 0);
    await other.close();
    await other.close();
    assert.deepEqual(processesNaming(other.userDataDir), []);
  });
});
