// `b3os-router test --event FILE [--rules FILE] [--json]`: prints the dry run of one event through
// the rules (delivery/dry-run.ts builds it). Nothing is sent and nothing is written.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatProblem, loadRules, shownPath } from '../config/load.js';
import { rulesPath } from '../config/options.js';
import type { EventObject, Problem } from '../config/types.js';
import { dryRun, type TestReport } from '../delivery/dry-run.js';
import { UsageError, bool, parse, str } from './args.js';

export type { TestReport } from '../delivery/dry-run.js';

type EventRead = { ok: true; event: EventObject; raw: string } | { ok: false; message: string };

function readEvent(file: string): EventRead {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, message: `the event file ${file} does not exist` };
    if (code === 'EISDIR') return { ok: false, message: `${file} is a folder; pass the JSON file of one event` };
    return { ok: false, message: `the event file ${file} cannot be read: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { ok: false, message: `the event file ${file} is not valid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      message: `the event file ${file} holds ${Array.isArray(value) ? 'a list' : 'a single value'}; an event is a JSON object like {"type": "run.failed", "data": {...}}`,
    };
  }
  return { ok: true, event: value as EventObject, raw };
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { event: { type: 'string' } });
  const json = bool(p, 'json');
  const eventFlag = str(p, 'event');
  if (!eventFlag) throw new UsageError('--event FILE is required: the JSON file of one B3OS event, e.g. --event examples/events/run-failed-payroll.json');

  const rulesFile = rulesPath(str(p, 'rules'));
  const { config, problems } = loadRules(rulesFile);
  if (!config) return refuseRules(problems, json);

  const eventFile = resolve(eventFlag);
  const read = readEvent(eventFile);
  if (!read.ok) {
    if (json) process.stdout.write(JSON.stringify({ error: read.message }, null, 2) + '\n');
    process.stderr.write(`b3os-router test: ${read.message}\n`);
    return 1;
  }
  const report = dryRun(config, read.event, read.raw, eventFlag, Date.now());
  report.warnings = problems.map(formatProblem);
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    for (const w of report.warnings) process.stderr.write(w + '\n');
    process.stdout.write(human(report));
  }
  return 0;
}

function refuseRules(problems: Problem[], json: boolean): number {
  const lines = problems.map(formatProblem);
  if (json) {
    process.stdout.write(JSON.stringify({ error: 'the rules file has errors', problems }, null, 2) + '\n');
    process.stderr.write(lines.join('\n') + '\n');
  } else {
    process.stdout.write(lines.join('\n') + '\n');
    process.stdout.write('the rules file has errors (listed above); fix them, then run test again\n');
  }
  return 1;
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `      | ${l}`)
    .join('\n');
}

function human(r: TestReport): string {
  const out: string[] = [];
  const e = r.event;
  out.push(`event ${e.file}: ${e.type ?? '(no type)'}`);
  const facts = [
    e.id && `id ${e.id}`,
    e.runId && `run ${e.runId}`,
    e.executionId && `execution ${e.executionId}`,
    `time ${e.time ?? 'none readable'}`,
    `key ${e.key}`,
  ];
  out.push(`  ${facts.filter(Boolean).join(', ')}`);
  if (!e.accepted) out.push(`  server.accept_types does not include ${e.type ?? 'untyped events'}: the router would answer 204 and ignore it`);
  out.push('', `rules (${shownPath(r.rulesFile)}, in file order):`);
  const width = Math.max(...r.rules.map((x) => x.rule.length), 4);
  for (const x of r.rules) out.push(`  ${x.matched ? 'MATCH' : 'no   '}  ${x.rule.padEnd(width)}  ${x.reason}`);
  if (r.stoppedBy) out.push(`  (rule "${r.stoppedBy}" has stop: true; later rules were not evaluated)`);
  out.push('', r.deliveries.length === 0 ? 'deliveries: none' : `deliveries (${r.deliveries.length}):`);
  for (const d of r.deliveries) {
    const verdict = d.allowed ? (d.privileged ? `would be sent (${d.reason})` : 'would be sent') : `BLOCKED: ${d.reason}`;
    const target = d.type === 'slack' ? ` ${d.rendered.channel ?? 'incoming webhook'}` : '';
    out.push(`  ${d.rule} -> ${d.destination} (${d.type}${target}${d.privileged ? ', privileged' : ''}): ${verdict}`);
    const body =
      d.type === 'email'
        ? `To: ${d.rendered.to}\nSubject: ${d.rendered.subject}\n\n${d.rendered.text}`
        : d.type === 'webhook'
          ? `${d.rendered.method} ${d.rendered.url}\n\n${d.rendered.body}`
          : d.rendered.text!;
    out.push(indent(body));
    if (d.group) {
      const values =
        Object.entries(d.group.group)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ') || 'one group for the rule';
      out.push(`    group ${d.group.key} (${values}); wait ${d.group.wait}, interval ${d.group.interval}: sent ${d.group.sends}`);
    }
    for (const note of d.notes) out.push(`    note: ${note}`);
  }
  out.push('', 'dry run: nothing was sent and nothing was written.');
  return out.join('\n') + '\n';
}
