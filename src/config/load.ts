// Loading a rules file: read → parse YAML (keeping positions) → ${VAR} interpolation → schema →
// compile → run the rules' own examples. Every finding becomes a Problem at FILE:LINE:COL; the
// config is returned only when there is no error, so `serve`, a reload and `check` accept and
// refuse exactly the same files.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { LineCounter, isScalar, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import type { EventObject, Problem, RouterConfig } from './types.js';
import { compileConfig, type EventFileResult, type RawFile } from './compile.js';
import { interpolateDocument, type Env } from './interpolate.js';
import { Problems, formatProblem, startOfFile, yamlLocator, type Path } from './problems.js';
import { validateSchema } from './schema.js';
import { warnTypeSpellings } from './b3os-types.js';
import { eventTime } from '../event/accessors.js';
import { NO_COUNTS } from '../policy/policy.js';
import { routeEvent } from '../route/route.js';

export { formatProblem };

export interface LoadResult {
  /** null exactly when some problem is an error. */
  config: RouterConfig | null;
  /** Errors and warnings, in file order. */
  problems: Problem[];
}

/** The file as a person would type it: relative to the working folder when that is shorter. */
export function shownPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

export function loadRules(file: string, env: Env = process.env): LoadResult {
  const abs = resolve(file);
  const shown = shownPath(abs);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const problems = new Problems(shown, startOfFile);
    problems.error([], unreadable(err as NodeJS.ErrnoException));
    return { config: null, problems: problems.list };
  }
  return loadRulesText(text, abs, env);
}

/** As loadRules, for text already read (`diff` compares two versions; tests). */
export interface LoadOptions {
  /**
   * Read example event files and run `examples:` (default true). The delivery thread compiles a
   * text the main thread has already checked in full; it needs the rules, not their examples.
   */
  examples?: boolean;
  /**
   * The event files that may be used, by absolute path, with their events; nothing is read from
   * disk. The console checks pasted text with the files the rules in force already use: pasted
   * text must not become a way to read any file the router can.
   */
  eventFiles?: ReadonlyMap<string, EventObject>;
  /**
   * `env` holds stand-ins, not the real environment (the console): a value from a variable is a
   * placeholder, so its content (a URL, a duration, a secret) is not checked.
   */
  standIns?: boolean;
}

export function loadRulesText(text: string, file: string, env: Env = process.env, opts: LoadOptions = {}): LoadResult {
  const abs = resolve(file);
  const lines = new LineCounter();
  // Keys written twice are found by duplicateKeys: yaml's own check (uniqueKeys) compares each key
  // with every earlier one in its map, the square of a large map's size.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: false });
  const problems = new Problems(shownPath(abs), yamlLocator(doc, lines));
  problems.standIns = opts.standIns ?? false;
  const at = (e: YAMLError): { line: number; col: number } => lines.linePos(e.pos[0]);

  for (const e of doc.errors) problems.add('error', at(e), yamlMessage(e));
  for (const offset of duplicateKeys(doc)) problems.add('error', lines.linePos(offset), DUPLICATE_KEY);
  for (const w of doc.warnings) problems.add('warning', at(w), `YAML: ${w.message}`);
  if (problems.hasErrors) return done(null, problems);
  if (doc.contents === null) {
    problems.error([], 'the rules file is empty; start from rules.example.yaml, or write at least "version: 1"');
    return done(null, problems);
  }

  const tainted = interpolateDocument(doc, text, lines, env, problems);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    problems.error([], `the file cannot be read as data: ${(err as Error).message}`);
    return done(null, problems);
  }
  const skip = [...validateSchema(data, problems, [...tainted, ...problems.uncheckedPaths()]), ...tainted];
  try {
    return finish(text, abs, data, skip, problems, opts.examples ?? true, opts.eventFiles);
  } catch (err) {
    // A bug of ours, not of the file: still one readable line, never a stack trace.
    problems.add(
      'error',
      { line: 1, col: 1 },
      `b3os-router could not finish checking this file (${(err as Error).message}); this is a bug in b3os-router, please report it`,
    );
    return done(null, problems);
  }
}

function finish(
  text: string,
  abs: string,
  data: unknown,
  skip: Path[],
  problems: Problems,
  examples: boolean,
  allowed?: ReadonlyMap<string, EventObject>,
): LoadResult {
  const read = (path: string): EventFileResult => {
    const file = resolve(dirname(abs), path);
    if (allowed === undefined) return readEventFile(file, path);
    const event = allowed.get(file);
    if (event !== undefined) return { ok: true, event: structuredClone(event) };
    return {
      ok: false,
      message: `the event file "${path}" is not one the rules in force use, and the console reads no other file; write the example's event inline (event: {type: run.failed, data: {...}}), or run check on the server`,
    };
  };
  const config = compileConfig({
    data: data as RawFile,
    file: abs,
    hash: createHash('sha256').update(text).digest('hex'),
    source: text,
    problems,
    skip,
    readEventFile: examples ? read : () => ({ ok: true, event: {} }),
  });
  warnTypeSpellings(config, problems);
  // Examples need a whole, valid config to say what would really happen; run them last.
  if (!problems.hasErrors && examples) runExamples(config, problems);
  return done(problems.hasErrors ? null : config, problems);
}

function done(config: RouterConfig | null, problems: Problems): LoadResult {
  return { config, problems: problems.sorted() };
}

function unreadable(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'the rules file does not exist; create it (copy rules.example.yaml to start) or pass another one with --rules FILE';
    case 'EISDIR':
      return 'this is a folder, not a rules file; pass the YAML file itself with --rules FILE';
    case 'EACCES':
    case 'EPERM':
      return 'the rules file cannot be read: permission denied';
    default:
      return `the rules file cannot be read: ${err.message}`;
  }
}

const DUPLICATE_KEY = 'this key is written twice in the same block; keep one of them';

/** Where a key repeats one written before it in the same map (scalar keys equal by value, as yaml's
 * uniqueKeys compares them), in one pass with a set per map. */
function duplicateKeys(doc: Document): number[] {
  const offsets: number[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) offsets.push(pair.key.range?.[0] ?? 0);
        else seen.add(pair.key.value);
      }
    },
  });
  return offsets;
}

function yamlMessage(e: YAMLError): string {
  switch (e.code) {
    case 'TAB_AS_INDENT':
      return 'a tab is used to indent; YAML needs spaces';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return `YAML syntax: ${e.message}; check the indentation and the ":" after each key on this line and the one above`;
    default:
      return `YAML syntax: ${e.message}`;
  }
}

/**
 * "is not valid JSON at line L, column C": where, never what. Node's own message quotes the start
 * of the text, and the text may be any file (a .env next to the rules file).
 */
export function jsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const pos = /at position (\d+)/.exec(message)?.[1];
  if (pos === undefined && /Unexpected end/.test(message)) return 'is not valid JSON: it ends too early (a missing } or ] at the end?)';
  if (pos === undefined) return 'is not valid JSON (check it with a JSON validator)';
  const before = text.slice(0, Number(pos));
  const line = before.split('\n').length;
  const col = Number(pos) - (before.lastIndexOf('\n') + 1) + 1;
  return `is not valid JSON at line ${line}, column ${col}`;
}

export function readEventFile(abs: string, written: string): EventFileResult {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      message:
        code === 'ENOENT'
          ? `the event file "${written}" does not exist (it is looked up next to the rules file, as ${abs})`
          : `the event file "${written}" cannot be read: ${(err as Error).message}`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `the event file "${written}" ${jsonError(text, err)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      message: `the event file "${written}" holds ${Array.isArray(value) ? 'a list' : 'a single value'}, not a JSON object like {"type": "run.failed", ...}`,
    };
  }
  return { ok: true, event: value as EventObject };
}

/**
 * Each example's `matches` is the rule's own condition; `destinations`, when given, is what this
 * rule would actually send to after `stop`, `enabled` and policy (no sends in the last hour, the
 * event's own time as "now" so a recorded event does not age out of max_event_age).
 */
function runExamples(config: RouterConfig, problems: Problems): void {
  for (const rule of config.rules) {
    rule.examples.forEach((ex, k) => {
      const label = `example ${k + 1} of rule "${rule.name}"`;
      const where = { line: ex.line, col: ex.col };
      const result = rule.test(ex.event);
      if (result.matched !== ex.matches) {
        problems.add(
          'error',
          where,
          `${label} expects matches: ${ex.matches}, but the rule ${result.matched ? 'matches' : 'does not match'} it: ${result.reason}`,
        );
        return;
      }
      if (ex.destinations === null) return;
      // The event's own time as "now", so a recorded event does not age out of max_event_age.
      const now = eventTime(ex.event, config.server.fields) ?? Date.now();
      const { decision, plan } = routeEvent(config, ex.event, { now, replay: false, only: (p) => p.rule === rule.name });
      const planned = plan(NO_COUNTS);
      const sent = planned.filter((p) => p.status === 'pending').map((p) => p.destination);
      const expected = [...new Set(ex.destinations)];
      if (expected.length === sent.length && expected.every((d) => sent.includes(d))) return;
      const why: string[] = [];
      const outcome = decision.outcomes.find((o) => o.rule === rule.name);
      if (!outcome) {
        why.push(decision.stoppedBy ? `rule "${decision.stoppedBy}" above it has stop: true` : "the event's type is not one this rule takes");
      } else if (!outcome.matched) {
        why.push(outcome.reason);
      }
      for (const p of planned) if (p.status === 'blocked') why.push(`"${p.destination}" is blocked: ${p.reason}`);
      for (const name of rule.sendTo) {
        if (config.destinations.get(name)?.enabled === false) why.push(`"${name}" is disabled (enabled: false)`);
      }
      problems.add(
        'error',
        where,
        `${label} expects destinations [${expected.join(', ')}], but it would send to [${sent.join(', ')}]${why.length ? `: ${why.join('; ')}` : ''}`,
      );
    });
  }
}
