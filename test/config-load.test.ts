// Loading a rules file: the example file, ${VAR} interpolation, and what happens to files that
// cannot be read at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem, loadRules, loadRulesText } from '../src/config/load.js';
import { interpolateString } from '../src/config/interpolate.js';
import { DEFAULT_DELIVERY, DEFAULT_RETENTION_MS } from '../src/config/defaults.js';
import type { Problem } from '../src/config/types.js';
import { ROOT, tempDir } from './helpers/cli.js';

/** 1-based line and column of the first occurrence of `needle` (after `after`, if given). */
function at(text: string, needle: string, after = ''): { line: number; col: number } {
  const start = after ? text.indexOf(after) : 0;
  assert.ok(start >= 0, `"${after}" is not in the text`);
  const i = text.indexOf(needle, start);
  assert.ok(i >= 0, `"${needle}" is not in the text`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

function errors(problems: Problem[]): Problem[] {
  return problems.filter((p) => p.severity === 'error');
}

const MINIMAL = `version: 1
destinations:
  ops:
    type: webhook
    url: URL_HERE
rules:
  - name: all
    send_to: [ops]
`;

test('the example rules file loads with an empty environment', () => {
  const { config, problems } = loadRules(join(ROOT, 'rules.example.yaml'), {});
  assert.deepEqual(errors(problems), [], problems.map(formatProblem).join('\n'));
  assert.ok(config);
  assert.ok(config.rules.length >= 5);
  assert.ok(config.rules.some((r) => r.examples.length > 0));
  const billing = config.destinations.get('billing-sync');
  assert.equal(billing?.type, 'webhook');
  assert.equal(billing?.privileged, true);
  // Destination overrides merge over the file's delivery block.
  assert.equal(billing?.delivery.maxAttempts, 12);
  assert.equal(billing?.delivery.backoffInitialMs, 5_000);
  assert.equal(billing?.delivery.backoffMaxMs, 30 * 60_000);
  assert.equal(billing?.delivery.timeoutMs, 20_000);
  assert.equal(config.grants.length, 1);
  assert.equal(config.grants[0]!.maxEventAgeMs, 3_600_000);
  assert.equal(config.grants[0]!.allowReplay, true);
  assert.deepEqual(config.server.acceptTypes, ['run.*', 'execution.failed', 'node.failed']);
  assert.equal(config.retentionMs, 30 * 24 * 3_600_000);
  assert.match(config.hash, /^[0-9a-f]{64}$/);
});

test('defaults apply when the file leaves settings out', () => {
  const { config, problems } = loadRulesText(MINIMAL.replace('URL_HERE', 'https://example.com/h'), '/tmp/r.yaml', {});
  assert.deepEqual(problems, []);
  assert.ok(config);
  assert.deepEqual(config.delivery, DEFAULT_DELIVERY);
  assert.equal(config.retentionMs, DEFAULT_RETENTION_MS);
  assert.equal(config.server.path, '/b3os/hooks');
  assert.equal(config.server.signature.header, 'x-b3os-signature');
  assert.equal(config.server.acceptTypes, null);
  const dest = config.destinations.get('ops');
  assert.equal(dest?.enabled, true);
  assert.equal(dest?.privileged, false);
  assert.equal(dest?.type === 'webhook' && dest.method, 'POST');
  assert.equal(config.rules[0]!.types, null);
});

test('server settings: header names lower-cased, fields overridable', () => {
  const text = `version: 1
server:
  path: /hooks
  accept_types: "run.*"
  signature:
    header: X-Sig
    encoding: base64
    prefix: ""
    timestamp_header: X-Sig-Time
    tolerance: 30s
  fields:
    type: [kind]
`;
  const { config, problems } = loadRulesText(text, '/tmp/r.yaml', {});
  assert.deepEqual(problems, []);
  assert.ok(config);
  assert.deepEqual(config.server.signature, {
    scheme: 'b3os',
    header: 'x-sig',
    encoding: 'base64',
    prefix: '',
    timestampHeader: 'x-sig-time',
    toleranceMs: 30_000,
  });
  assert.deepEqual(config.server.acceptTypes, ['run.*']);
  assert.deepEqual(config.server.fields.type, ['kind']);
  assert.deepEqual(config.server.fields.id, ['id', 'event_id', 'eventId']);
});

test('interpolateString: set, default, empty, escape, missing and malformed', () => {
  const env = { A: 'alpha', EMPTY: '' };
  assert.deepEqual(interpolateString('x-${A}-y', env), { value: 'x-alpha-y', issues: [], used: [{ name: 'A', value: 'alpha' }] });
  assert.equal(interpolateString('${B:-fallback}', env).value, 'fallback');
  assert.equal(interpolateString('${EMPTY:-fallback}', env).value, 'fallback');
  assert.equal(interpolateString('${EMPTY}', env).value, '');
  assert.equal(interpolateString('${A:-}', env).value, 'alpha');
  assert.equal(interpolateString('cost $${A} and ${A}', env).value, 'cost ${A} and alpha');
  const missing = interpolateString('a ${NOPE} b', env);
  assert.deepEqual(
    missing.issues.map((i) => [i.kind, i.name, i.index]),
    [['missing', 'NOPE', 2]],
  );
  const malformed = interpolateString('${1BAD}', env);
  assert.equal(malformed.issues[0]?.kind, 'malformed');
  assert.equal(interpolateString('no references', env).value, 'no references');
});

test('interpolation applies to every string value, including inside lists and quoted text', () => {
  const text = `version: 1
destinations:
  mail:
    type: email
    to: ["\${TEAM}@example.com", ops@example.com]
    from: '\${FROM:-router@example.com}'
    max_attempts: \${ATTEMPTS:-3}
rules: []
`;
  const { config, problems } = loadRulesText(text, '/tmp/r.yaml', { TEAM: 'payroll' });
  assert.deepEqual(problems, []);
  const mail = config?.destinations.get('mail');
  assert.ok(mail && mail.type === 'email');
  assert.deepEqual(mail.to, ['payroll@example.com', 'ops@example.com']);
  assert.equal(mail.from, 'router@example.com');
  // Interpolated text becomes a number where the schema wants one.
  assert.equal(mail.delivery.maxAttempts, 3);
});

test('a missing variable is an error naming it, at its line and column', () => {
  const text = MINIMAL.replace('URL_HERE', 'https://example.com/${HOOK_PATH}');
  const { config, problems } = loadRulesText(text, '/tmp/r.yaml', {});
  assert.equal(config, null);
  assert.equal(problems.length, 1, problems.map(formatProblem).join('\n'));
  const p = problems[0]!;
  assert.deepEqual({ line: p.line, col: p.col }, at(text, '${HOOK_PATH}'));
  assert.match(p.message, /HOOK_PATH is not set/);
  assert.match(p.message, /\$\{HOOK_PATH:-default\}/);
});

test('two missing variables in one value are both reported, each at its own column', () => {
  const text = MINIMAL.replace('URL_HERE', '"https://${HOST_A}/${PATH_B}"');
  const { problems } = loadRulesText(text, '/tmp/r.yaml', {});
  const found = problems.map((p) => [p.line, p.col, /(HOST_A|PATH_B)/.exec(p.message)?.[1]]);
  const a = at(text, '${HOST_A}');
  const b = at(text, '${PATH_B}');
  assert.deepEqual(found, [
    [a.line, a.col, 'HOST_A'],
    [b.line, b.col, 'PATH_B'],
  ]);
});

test('a missing file is one error at 1:1 that says so plainly', () => {
  const { config, problems } = loadRules('/nonexistent/dir/rules.yaml', {});
  assert.equal(config, null);
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.line, 1);
  assert.equal(problems[0]!.col, 1);
  assert.match(problems[0]!.message, /does not exist/);
  assert.match(formatProblem(problems[0]!), /^\/nonexistent\/dir\/rules\.yaml:1:1: the rules file does not exist/);
});

test('an empty file is an error, not an empty configuration', () => {
  const { config, problems } = loadRulesText('# nothing here\n', '/tmp/r.yaml', {});
  assert.equal(config, null);
  assert.match(problems[0]!.message, /empty/);
});

test('formatProblem: FILE:LINE:COL: message, and warning: for warnings', () => {
  const base = { file: 'rules.yaml', line: 14, col: 7, message: 'something' };
  assert.equal(formatProblem({ ...base, severity: 'error' }), 'rules.yaml:14:7: something');
  assert.equal(formatProblem({ ...base, severity: 'warning' }), 'rules.yaml:14:7: warning: something');
});

test('problems name the file relative to the working folder when it is inside it', () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'rules.yaml'), 'version: 2\n');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { problems } = loadRules('conf/rules.yaml', {});
      assert.equal(problems[0]!.file, join('conf', 'rules.yaml'));
    } finally {
      process.chdir(cwd);
    }
  } finally {
    cleanup();
  }
});
