// The console's evaluation thread: `check` and `diff` on a pasted rules file, and `test`'s dry
// run on a pasted event. Pasted JSON Logic can take as long as its author likes; here it costs
// this thread only, which evaluate.ts stops when it runs past its budget, so the hook path on the
// main thread never waits for it.
import { parentPort } from 'node:worker_threads';
import type { Env } from '../config/interpolate.js';
import type { EventObject, RouterConfig } from '../config/types.js';
import type { StoredEvent } from '../store/store.js';
import { checkText, compileRules, tryEvent, type RulesText } from './data.js';

export type Job =
  | { kind: 'check'; current: RulesText; text: string; env: Env; eventFiles: [string, EventObject][]; events: StoredEvent[]; now: number }
  | { kind: 'try'; current: RulesText; env: Env; event: EventObject; raw: string; label: string; now: number };

export type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

// The rules in force change rarely: compiled once per file version.
let compiled: { hash: string; config: RouterConfig | null } | null = null;

function run(job: Job): unknown {
  if (job.kind === 'check') return checkText(job.current, job.text, job.env, new Map(job.eventFiles), job.events, job.now);
  if (compiled?.hash !== job.current.hash) compiled = { hash: job.current.hash, config: compileRules(job.current, job.env) };
  if (!compiled.config) throw new Error('the rules in force could not be compiled again');
  return tryEvent(compiled.config, job.event, job.raw, job.label, job.now);
}

parentPort?.on('message', (m: { id: number; job: Job }) => {
  let answer: Answer;
  try {
    answer = { id: m.id, ok: true, value: run(m.job) };
  } catch (err) {
    answer = { id: m.id, ok: false, message: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
