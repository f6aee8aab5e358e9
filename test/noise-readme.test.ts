// The README's "Less noise" recipes work as pasted: the rule passes `check` in a rules file beside
// an ops-slack destination, and the silence command, run as written, creates the silence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, tempDir } from './helpers/cli.js';
import { SqliteStore } from '../src/store/sqlite.js';

function section(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Less noise\n');
  assert.ok(start >= 0, 'the README has a "Less noise" section');
  return readme.slice(start, readme.indexOf('\n## ', start + 5));
}

/** Shell words, with "double quotes" (all the recipe uses). */
const words = (line: string) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);

test('the "Less noise" recipes work as pasted', async (t) => {
  const tmp = tempDir('b3os-noise-readme-');
  t.after(() => tmp.cleanup());
  const text = section();
  const yaml = /```yaml\n([\s\S]*?)```/.exec(text)?.[1];
  const sh = /```sh\n([\s\S]*?)```/.exec(text)?.[1];
  assert.ok(yaml && sh, 'a yaml and a sh recipe');

  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(rules, `version: 1\ndestinations:\n  ops-slack: { type: slack, channel: "#b3os-alerts", token: xoxb-test }\n${yaml}`);
  const check = await runCli(['check', '--rules', rules]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const event = join(tmp.dir, 'event.json');
  writeFileSync(event, JSON.stringify({ type: 'run.failed', data: { workflowId: 'wf_payroll', runId: 'run_1' } }));
  const tried = await runCli(['test', '--event', event, '--rules', rules, '--json']);
  assert.equal((JSON.parse(tried.stdout) as { deliveries: { group: { interval: string } }[] }).deliveries[0]!.group.interval, '10m');

  const db = join(tmp.dir, 'router.db');
  await new SqliteStore(db).close();
  const lines = sh.trim().split('\n');
  assert.equal(lines.length, 1);
  const [bin, ...args] = words(lines[0]!);
  assert.equal(bin, 'b3os-router');
  const out = await runCli(args, { env: { RULES_FILE: rules, DB_PATH: db } });
  assert.equal(out.code, 0, out.stderr);
  const list = await runCli(['silence', 'list', '--json'], { env: { RULES_FILE: rules, DB_PATH: db } });
  const [s] = (JSON.parse(list.stdout) as { silences: { id: string; matches: string; comment: string; until: string }[] }).silences;
  assert.equal(s!.id, out.stdout.trim());
  assert.equal(s!.matches, 'data.workflowId=wf_payroll');
  assert.equal(s!.comment, 'payroll maintenance');
  const hours = (Date.parse(s!.until) - Date.now()) / 3_600_000;
  assert.ok(hours > 1.9 && hours <= 2, `ends in two hours (${hours})`);
});
