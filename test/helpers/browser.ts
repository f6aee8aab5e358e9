// A real headless Chromium for a test file: the build @sparticuz/chromium ships on npm, driven by
// puppeteer-core. One browser per file, a fresh profile in a temp dir, and no network but loopback.
//
// Not chromium.args: that set is for serverless hosts and turns web security off, which would
// hide exactly the bugs a console test is for.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import chromium from '@sparticuz/chromium';
import { processesNaming } from './processes.js';
import puppeteer, { type Browser, type HTTPRequest, type Page } from 'puppeteer-core';

export interface TestBrowser {
  browser: Browser;
  /** A new page whose requests to anything but loopback are aborted and recorded in `blocked`. */
  newPage(): Promise<Page>;
  /** URLs that a page tried to reach beyond loopback. */
  blocked: string[];
  /** Milliseconds from launch() to a usable browser (after the first unpack). */
  launchMs: number;
  /** The browser's profile dir (names its processes on the command line). */
  userDataDir: string;
  /** Closes the browser (killing it if it does not close in time) and removes its profile. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopbackUrl(u: string): boolean {
  try {
    const url = new URL(u);
    if (url.protocol === 'data:' || url.protocol === 'blob:' || u === 'about:blank') return true;
    return (url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'ws:') && LOOPBACK.has(url.hostname);
  } catch {
    return false;
  }
}

let unpacked: Promise<{ executable: string; fontconfig: string }> | undefined;

/**
 * The package unpacks its browser to $TMPDIR/chromium, shared, unversioned and non-atomic: two
 * test files at once, or a run killed mid-unpack, would launch a torn binary. We unpack into a
 * private staging dir (by pointing TMPDIR there for the call) and rename it into a versioned dir.
 */
function unpack(): Promise<{ executable: string; fontconfig: string }> {
  unpacked ??= (async () => {
    const pkgDir = join(dirname(fileURLToPath(import.meta.resolve('@sparticuz/chromium'))), '..', '..');
    const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    const base = tmpdir();
    const dir = join(base, `b3os-chromium-${version}`);
    if (!existsSync(join(dir, 'chromium'))) {
      const staging = mkdtempSync(join(base, `b3os-chromium-${version}.partial-`));
      const saved = process.env.TMPDIR;
      process.env.TMPDIR = staging;
      try {
        const got = await chromium.executablePath();
        if (got !== join(staging, 'chromium')) throw new Error(`@sparticuz/chromium unpacked to ${got}, not into ${staging}`);
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
      // Its fonts.conf names /tmp/fonts; ours names the fonts beside it, so rendering does not
      // depend on the host's fonts.
      writeFileSync(
        join(staging, 'fonts', 'fonts.conf'),
        `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${dir}/fonts/fonts</dir>\n  <cachedir>${dir}/fonts-cache</cachedir>\n</fontconfig>\n`,
      );
      try {
        renameSync(staging, dir);
      } catch {
        rmSync(staging, { recursive: true, force: true }); // another test file won the race
      }
    }
    return { executable: join(dir, 'chromium'), fontconfig: join(dir, 'fonts') };
  })();
  unpacked.catch(() => (unpacked = undefined));
  return unpacked;
}

export async function launchBrowser(o: { timeoutMs?: number } = {}): Promise<TestBrowser> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const { executable, fontconfig } = await unpack();
  const userDataDir = mkdtempSync(join(tmpdir(), 'b3os-browser-'));
  const t = Date.now();
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: executable,
      headless: 'shell', // the package ships chrome-headless-shell
      // DevTools over a pipe, not a port: nothing listens, and the browser exits when we die.
      pipe: true,
      userDataDir,
      timeout: timeoutMs,
      protocolTimeout: timeoutMs,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: userDataDir, FONTCONFIG_PATH: fontconfig, TZ: 'UTC', LANG: 'en_US.UTF-8' },
      args: [
        '--no-sandbox', // we run as root in CI; the pages are our own
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-default-apps',
        '--disable-domain-reliability',
        '--disable-breakpad',
        '--disable-client-side-phishing-detection',
        '--no-pings',
        '--disable-quic',
        '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater',
        // No name but localhost resolves, so nothing can leave the machine by name even if a
        // page or a browser service tries.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
        `--user-data-dir=${userDataDir}`,
      ],
    });
  } catch (e) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const launchMs = Date.now() - t;
  const blocked: string[] = [];
  const proc = browser.process();
  let closed = false;

  return {
    browser,
    blocked,
    launchMs,
    userDataDir,
    async newPage() {
      const page = await browser.newPage();
      page.setDefaultTimeout(timeoutMs);
      await page.setRequestInterception(true);
      page.on('request', (req: HTTPRequest) => {
        if (isLoopbackUrl(req.url())) void req.continue();
        else {
          blocked.push(req.url());
          void req.abort('blockedbyclient');
        }
      });
      return page;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await Promise.race([browser.close(), new Promise((_, rej) => setTimeout(() => rej(new Error('browser.close() timed out')), 10_000).unref())]);
      } catch {
        proc?.kill('SIGKILL');
      } finally {
        // Chromium's helpers may outlive the main process by a moment: kill what still names the profile.
        killProfileProcesses(userDataDir);
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

function killProfileProcesses(userDataDir: string): void {
  for (const pid of processesNaming(userDataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
