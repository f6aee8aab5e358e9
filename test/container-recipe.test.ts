// The container recipe, checked without a Docker engine (none runs on these machines). The
// Dockerfile is parsed, not hard-coded: its stages, COPY, RUN, ENV, WORKDIR, USER, EXPOSE,
// HEALTHCHECK, ENTRYPOINT and CMD lines are read and checked against the contract (§6), then its
// build and start steps are replayed in a clean copy of the repository:
//
//   - the build context is the files git would commit (`git ls-files --cached --others
//     --exclude-standard`), so a file the recipe needs but the repository lacks is caught;
//   - each stage gets its own root folder standing in for the image's filesystem (`/app`,
//     `/config`, `/data` map into it);
//   - RUN steps are replayed: `npm run build` and `npm prune` for real; `npm ci` by a hard-linked
//     copy of the already installed node_modules (the real `npm ci` compiles better-sqlite3 for
//     about a minute; set B3OS_RECIPE_NPM_CI=1 to run it); apt-get and chown are skipped (system
//     packages and users); any other step fails the test until the replay is taught it;
//   - the final stage's ENTRYPOINT + CMD start the router with the image's ENV (paths mapped, the
//     port made free, the host 127.0.0.1), /healthz must answer 200, and the HEALTHCHECK command
//     itself must exit 0 (and non-zero once the router is gone).
//
// hadolint lints the Dockerfile when it is installed (CI installs it when Debian packages it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { ROOT, cleanEnv, freePort, tempDir, waitFor } from './helpers/cli.js';

// ---------------------------------------------------------------------------------------------
// Dockerfile parsing

interface Instruction {
  cmd: string;
  /** The raw argument text (continuations joined). */
  text: string;
  line: number;
  /** `--name=value` flags (COPY --from, HEALTHCHECK --interval, ...). */
  flags: Record<string, string>;
  /** Arguments: the JSON array of the exec form, or whitespace-split words of the shell form. */
  args: string[];
  /** True for the exec (JSON array) form. */
  exec: boolean;
}

interface Stage {
  index: number;
  image: string;
  name: string | null;
  instructions: Instruction[];
}

/** Shell-like words: whitespace separates, quotes (anywhere in a word) group, backslash escapes. */
function splitWords(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function parseArgs(rest: string): { flags: Record<string, string>; args: string[]; exec: boolean; text: string } {
  const flags: Record<string, string> = {};
  let text = rest.trim();
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s*/.exec(text);
    if (!m) break;
    flags[m[1]!] = m[2]!;
    text = text.slice(m[0].length);
  }
  if (text.startsWith('[')) {
    try {
      const arr = JSON.parse(text) as unknown;
      if (Array.isArray(arr) && arr.every((x) => typeof x === 'string')) return { flags, args: arr as string[], exec: true, text };
    } catch {
      // not JSON: the shell form
    }
  }
  return { flags, args: splitWords(text), exec: false, text };
}

function parseDockerfile(source: string): Stage[] {
  const lines = source.split('\n');
  const stages: Stage[] = [];
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let l = lines[i]!;
    if (/^\s*(#.*)?$/.test(l)) continue;
    // Continuations: a trailing backslash joins the next line; comment lines inside are dropped.
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      l += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const cmd = m[1]!.toUpperCase();
    const parsed = parseArgs(m[2]!);
    const ins: Instruction = { cmd, line: startLine, ...parsed };
    if (cmd === 'FROM') {
      const w = ins.args;
      const asIdx = w.findIndex((x) => x.toUpperCase() === 'AS');
      stages.push({ index: stages.length, image: w[0]!, name: asIdx >= 0 ? (w[asIdx + 1] ?? null) : null, instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`Dockerfile line ${startLine}: ${cmd} before any FROM`);
    stages[stages.length - 1]!.instructions.push(ins);
  }
  return stages;
}

/** ENV's `K=V K2="V 2"` form (and the legacy `ENV K V`). */
function envPairs(ins: Instruction): [string, string][] {
  const words = splitWords(ins.text);
  if (words.length >= 2 && !words[0]!.includes('=')) return [[words[0]!, words.slice(1).join(' ')]];
  return words.map((w) => {
    const eq = w.indexOf('=');
    return [w.slice(0, eq), w.slice(eq + 1)] as [string, string];
  });
}

function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions) if (ins.cmd === 'ENV') for (const [k, v] of envPairs(ins)) env[k] = v;
  return env;
}

const last = (stage: Stage, cmd: string) => [...stage.instructions].reverse().find((i) => i.cmd === cmd);

// ---------------------------------------------------------------------------------------------
// Replay

/** A .dockerignore pattern as a RegExp: `*` within a segment, `**` across segments, `?` one character. */
function globToRegExp(pattern: string): RegExp {
  const p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The build context: what a clean clone would hold (tracked files, plus new files not ignored). */
function cleanContext(dest: string): string[] {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  // .dockerignore, like the engine: a path matching a pattern (or under a matching folder) is left out.
  const ignore = existsSync(join(ROOT, '.dockerignore'))
    ? readFileSync(join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => s && !s.startsWith('#') && !s.startsWith('!'))
    : [];
  const patterns = ignore.map(globToRegExp);
  // A pattern matches the path itself or any folder above it (as the engine excludes a folder's contents).
  const ignored = (f: string) => {
    const parts = f.split('/');
    return parts.some((_, i) => patterns.some((re) => re.test(parts.slice(0, i + 1).join('/'))));
  };
  const copied: string[] = [];
  for (const f of files) {
    if (ignored(f) || !existsSync(join(ROOT, f))) continue;
    const to = join(dest, f);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(join(ROOT, f), to);
    copied.push(f);
  }
  return copied;
}

interface Replay {
  roots: Map<number, string>;
  workdirs: Map<number, string>;
  notes: string[];
}

function stageRoot(r: Replay, stage: Stage): string {
  return r.roots.get(stage.index)!;
}

/** A path inside a stage's image: absolute ones from its root, relative ones from its WORKDIR. */
function inImage(r: Replay, stage: Stage, p: string): string {
  const root = stageRoot(r, stage);
  return isAbsolute(p) ? join(root, p) : join(root, r.workdirs.get(stage.index) ?? '/', p);
}

function copyInto(from: string, to: string, destIsDir: boolean): void {
  if (!existsSync(from)) throw new Error(`COPY source ${from} does not exist`);
  const target = destIsDir && !statSync(from).isDirectory() ? join(to, from.split('/').pop()!) : to;
  mkdirSync(statSync(from).isDirectory() ? target : dirname(target), { recursive: true });
  cpSync(from, target, { recursive: true, verbatimSymlinks: true });
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): void {
  const res = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  if (res.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`);
}

function replayRun(r: Replay, stage: Stage, ins: Instruction): void {
  const cwd = inImage(r, stage, '.');
  const steps = (ins.exec ? [ins.args.join(' ')] : ins.text.split(/&&|;/)).map((s) => s.trim()).filter(Boolean);
  for (const step of steps) {
    const words = splitWords(step);
    if (/^(apt-get|apk|rm -rf \/var\/lib\/apt)/.test(step)) {
      r.notes.push(`line ${ins.line}: skipped system step \`${step}\``);
    } else if (words[0] === 'npm' && words[1] === 'ci') {
      if (process.env.B3OS_RECIPE_NPM_CI === '1') {
        run('npm', words.slice(1), cwd);
      } else {
        // A hard-linked copy of the installed tree stands in for `npm ci` (same lockfile); the
        // lockfile copy npm rewrites is a real file, so nothing in the repository is touched.
        const to = join(cwd, 'node_modules');
        try {
          execFileSync('cp', ['-al', join(ROOT, 'node_modules'), to]);
        } catch {
          rmSync(to, { recursive: true, force: true });
          cpSync(join(ROOT, 'node_modules'), to, { recursive: true, verbatimSymlinks: true });
        }
        // npm rewrites its own lockfile copy: make that one a file of its own, not a link to ours.
        const lock = join(to, '.package-lock.json');
        if (existsSync(lock)) {
          const text = readFileSync(lock);
          rmSync(lock);
          writeFileSync(lock, text);
        }
        r.notes.push(`line ${ins.line}: \`${step}\` replaced by a copy of the installed node_modules`);
      }
    } else if (words[0] === 'npm' && (words[1] === 'run' || words[1] === 'prune')) {
      run('npm', words.slice(1), cwd);
    } else if (words[0] === 'mkdir') {
      for (const p of words.slice(1).filter((w) => !w.startsWith('-'))) mkdirSync(inImage(r, stage, p), { recursive: true });
    } else if (words[0] === 'chown' || words[0] === 'chmod') {
      for (const p of words.slice(2).filter((w) => !w.startsWith('-')))
        assert.ok(existsSync(inImage(r, stage, p)), `line ${ins.line}: ${words[0]} of a missing path ${p}`);
      r.notes.push(`line ${ins.line}: skipped \`${step}\` (no users here)`);
    } else {
      throw new Error(`Dockerfile line ${ins.line}: this replay does not know the step \`${step}\`; teach test/container-recipe.test.ts`);
    }
  }
}

function replayStage(r: Replay, stages: Stage[], stage: Stage, context: string): void {
  for (const ins of stage.instructions) {
    switch (ins.cmd) {
      case 'WORKDIR': {
        const wd = posix.resolve(r.workdirs.get(stage.index) ?? '/', ins.args[0]!);
        r.workdirs.set(stage.index, wd);
        mkdirSync(inImage(r, stage, wd), { recursive: true });
        break;
      }
      case 'COPY':
      case 'ADD': {
        const parts = [...ins.args];
        const dest = parts.pop()!;
        const fromStage = ins.flags.from !== undefined ? stages.find((s) => s.name === ins.flags.from || String(s.index) === ins.flags.from) : undefined;
        if (ins.flags.from !== undefined) assert.ok(fromStage, `line ${ins.line}: COPY --from=${ins.flags.from} names no earlier stage`);
        const destPath = inImage(r, stage, dest);
        const destIsDir = dest.endsWith('/') || parts.length > 1 || dest === '.';
        for (const src of parts) {
          const from = fromStage ? inImage(r, fromStage, src) : join(context, src);
          assert.ok(
            existsSync(from),
            `line ${ins.line}: ${ins.cmd} source "${src}" is not in ${fromStage ? `stage ${fromStage.name ?? fromStage.index}` : 'the build context (is it committed?)'}`,
          );
          copyInto(from, destPath, destIsDir);
        }
        break;
      }
      case 'RUN':
        replayRun(r, stage, ins);
        break;
      default:
        // ENV, USER, EXPOSE, VOLUME, HEALTHCHECK, ENTRYPOINT, CMD, LABEL, ARG: read where needed.
        break;
    }
  }
}

/** The stage's ENV with absolute paths moved into its root. */
function mappedEnv(r: Replay, stage: Stage): Record<string, string> {
  const env = stageEnv(stage);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = v.startsWith('/') ? inImage(r, stage, v) : v;
  return out;
}

function command(argv: string[]): [string, string[]] {
  const [bin, ...rest] = argv;
  return [bin === 'node' ? process.execPath : bin!, rest];
}

// ---------------------------------------------------------------------------------------------

// B3OS_RECIPE_DOCKERFILE checks a candidate Dockerfile (same build context) before it replaces the real one.
const dockerfilePath = process.env.B3OS_RECIPE_DOCKERFILE ?? join(ROOT, 'Dockerfile');
const dockerfile = readFileSync(dockerfilePath, 'utf8');
const stages = parseDockerfile(dockerfile);
const final = stages[stages.length - 1]!;

describe('Dockerfile: what the contract asks of the image', () => {
  test('multi-stage, on a Node LTS image the package supports', () => {
    assert.ok(stages.length >= 2, `multi-stage (found ${stages.length} FROM)`);
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '>=20';
    const min = Number(/(\d+)/.exec(engines)?.[1] ?? 20);
    for (const s of stages) {
      const m = /^node:(\d+)/.exec(s.image);
      assert.ok(m, `stage ${s.index} builds FROM a node image (${s.image})`);
      assert.ok(Number(m[1]) >= min && Number(m[1]) % 2 === 0, `node ${m[1]} is an LTS line at or above engines ${engines}`);
    }
  });

  test('runs as a non-root user', () => {
    const user = last(final, 'USER');
    assert.ok(user, 'the final stage sets USER');
    const name = user.args[0]!.split(':')[0]!;
    assert.ok(name !== 'root' && name !== '0', `USER ${name} is not root`);
    const userIdx = final.instructions.indexOf(user);
    const after = final.instructions.slice(userIdx + 1).filter((i) => i.cmd === 'USER');
    assert.equal(after.length, 0, 'no later USER switches back');
  });

  test('EXPOSE 8080, reads /config/rules.yaml, keeps its database under /data', () => {
    const exposed = final.instructions.filter((i) => i.cmd === 'EXPOSE').flatMap((i) => i.args.map((a) => a.split('/')[0]));
    assert.ok(exposed.includes('8080'), `EXPOSE 8080 (found ${exposed.join(', ') || 'none'})`);
    const env = stageEnv(final);
    assert.equal(env.RULES_FILE, '/config/rules.yaml');
    assert.ok(env.DB_PATH?.startsWith('/data/'), `DB_PATH under /data (is ${env.DB_PATH})`);
    const volumes = final.instructions.filter((i) => i.cmd === 'VOLUME').flatMap((i) => i.args);
    assert.ok(volumes.includes('/data'), 'VOLUME /data');
  });

  test('HEALTHCHECK requests /healthz; ENTRYPOINT is exec form (SIGTERM reaches node)', () => {
    const hc = last(final, 'HEALTHCHECK');
    assert.ok(hc, 'HEALTHCHECK present');
    assert.match(hc.text, /\/healthz/);
    const ep = last(final, 'ENTRYPOINT');
    assert.ok(ep?.exec, 'ENTRYPOINT in exec form');
  });

  test('runs node with the flags and environment of `npm start` (what the bench measures)', () => {
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.trim().split(/\s+/);
    const node = start.indexOf('node');
    const script = start.findIndex((w) => w.endsWith('b3os-router.js'));
    assert.ok(node >= 0 && script > node, `npm start runs node bin/b3os-router.js (is "${start.join(' ')}")`);
    const ep = last(final, 'ENTRYPOINT')!;
    const epScript = ep.args.findIndex((a) => a.endsWith('b3os-router.js'));
    assert.deepEqual(ep.args.slice(1, epScript), start.slice(node + 1, script), 'the same node flags');
    const env = stageEnv(final);
    for (const w of start.slice(0, node)) {
      const [k, v] = [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)];
      assert.equal(env[k], v, `ENV ${k}=${v}, as npm start sets it`);
    }
  });

  test('hadolint finds no errors', (t) => {
    const which = spawnSync('sh', ['-c', 'command -v hadolint'], { encoding: 'utf8' });
    if (which.status !== 0) {
      t.skip('hadolint is not installed');
      return;
    }
    const res = spawnSync('hadolint', ['--failure-threshold', 'error', dockerfilePath], { encoding: 'utf8' });
    if (res.stdout.trim()) t.diagnostic(res.stdout.trim());
    assert.equal(res.status, 0, `hadolint:\n${res.stdout}\n${res.stderr}`);
  });
});

describe('Dockerfile: build and start replayed in a clean copy', { timeout: 180_000 }, () => {
  const tmp = tempDir('b3os-recipe-');
  const context = join(tmp.dir, 'context');
  const r: Replay = { roots: new Map(), workdirs: new Map(), notes: [] };
  let child: ChildProcess | null = null;
  let port = 0;
  let env: NodeJS.ProcessEnv = {};
  let logs = '';

  before(() => {
    mkdirSync(context, { recursive: true });
    cleanContext(context);
    for (const s of stages) {
      const root = join(tmp.dir, `stage-${s.index}`);
      mkdirSync(root, { recursive: true });
      r.roots.set(s.index, root);
    }
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    tmp.cleanup();
  });

  test('the build stages replay (build context from git, npm run build, npm prune)', (t) => {
    for (const s of stages.slice(0, -1)) replayStage(r, stages, s, context);
    for (const n of r.notes) t.diagnostic(n);
  });

  test('the final stage assembles an image with the compiled router, rules at /config and /data', () => {
    replayStage(r, stages, final, context);
    const root = stageRoot(r, final);
    const env = stageEnv(final);
    assert.ok(existsSync(join(root, env.RULES_FILE!)), `${env.RULES_FILE} is in the image`);
    assert.ok(existsSync(join(root, dirname(env.DB_PATH!))), `${dirname(env.DB_PATH!)} exists in the image`);
    const ep = last(final, 'ENTRYPOINT')!;
    const script = ep.args.find((a) => a.endsWith('.js'));
    if (script) assert.ok(existsSync(inImage(r, final, script)), `ENTRYPOINT script ${script} is in the image`);
    // Only production dependencies were kept: the compiler is not in the image.
    assert.ok(!existsSync(inImage(r, final, 'node_modules/typescript')), 'dev dependencies pruned');
  });

  test('ENTRYPOINT + CMD start the router; /healthz answers 200; the HEALTHCHECK command exits 0', async () => {
    const ep = last(final, 'ENTRYPOINT');
    const cmd = last(final, 'CMD');
    const argv = [...(ep?.args ?? []), ...(cmd?.args ?? [])];
    assert.ok(argv.length > 0, 'ENTRYPOINT/CMD give a command');
    port = await freePort();
    env = cleanEnv({ ...mappedEnv(r, final), PORT: String(port), HOST: '127.0.0.1', B3OS_WEBHOOK_SECRET: 'recipe-secret', LOG_LEVEL: 'info' });
    const [bin, args] = command(argv);
    child = spawn(bin, args, { cwd: inImage(r, final, '.'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    await waitFor(
      async () => {
        if (child!.exitCode !== null) throw new Error(`the image's command exited (${child!.exitCode}):\n${logs}`);
        try {
          return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: '/healthz of the replayed image' },
    );
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, 'ready: database writable, rules loaded');
    const dbPath = env.DB_PATH!;
    assert.ok(existsSync(dbPath), `the database was created at the /data path (${dbPath})`);
    // /healthz can answer before the "listening" line has come through the pipe: wait for it too.
    await waitFor(() => /listening/.test(logs), { timeoutMs: 10_000, what: 'the router says it listens' });

    const hc = last(final, 'HEALTHCHECK')!;
    const cmdAt = hc.args.findIndex((a) => a.toUpperCase() === 'CMD');
    const hcText = hc.text.slice(hc.text.toUpperCase().indexOf('CMD') + 3).trim();
    const hcArgv = hcText.startsWith('[') ? (JSON.parse(hcText) as string[]) : ['sh', '-c', hc.args.slice(cmdAt + 1).join(' ')];
    const [hcBin, hcArgs] = command(hcArgv);
    const ok = spawnSync(hcBin, hcArgs, { cwd: inImage(r, final, '.'), env, encoding: 'utf8', timeout: 10_000 });
    assert.equal(ok.status, 0, `HEALTHCHECK exits 0 while serving:\n${ok.stdout}${ok.stderr}`);

    // SIGTERM: a clean stop, exit 0 (contract §6); then the HEALTHCHECK must fail.
    const exited = new Promise<number | null>((res) => child!.once('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit status after SIGTERM\n${logs}`);
    const down = spawnSync(hcBin, hcArgs, { cwd: inImage(r, final, '.'), env, encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(down.status, 0, 'HEALTHCHECK fails once the router is gone');
  });
});

// Keep the parser honest on the forms it claims to read.
test('the Dockerfile parser reads continuations, flags, exec and shell forms', () => {
  const s = parseDockerfile(`# c
FROM node:22 AS build
ENV A=1 \\
    B="two words"
COPY --from=build /app/x ./y
HEALTHCHECK --interval=5s CMD curl -f http://localhost/healthz
ENTRYPOINT ["node", "x.js"]
`);
  assert.equal(s.length, 1);
  assert.equal(s[0]!.name, 'build');
  assert.deepEqual(stageEnv(s[0]!), { A: '1', B: 'two words' });
  const copy = s[0]!.instructions.find((i) => i.cmd === 'COPY')!;
  assert.equal(copy.flags.from, 'build');
  assert.deepEqual(copy.args, ['/app/x', './y']);
  assert.deepEqual(s[0]!.instructions.find((i) => i.cmd === 'ENTRYPOINT')!.args, ['node', 'x.js']);
  assert.equal(s[0]!.instructions.find((i) => i.cmd === 'HEALTHCHECK')!.flags.interval, '5s');
  assert.ok(globToRegExp('*.db').test('router.db') && !globToRegExp('*.db').test('a/router.db'));
  assert.ok(globToRegExp('bench/results').test('bench/results') && globToRegExp('**/x').test('a/b/x'));
});
