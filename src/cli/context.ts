// What the operating commands share: the rules in force and the database, opened the way each
// command needs them (read-only for listings, so a running server is never disturbed).
import { existsSync } from 'node:fs';
import { parseDuration } from '../config/duration.js';
import { formatProblem, loadRules } from '../config/load.js';
import { dbPath, rulesPath } from '../config/options.js';
import type { RouterConfig } from '../config/types.js';
import { isPostgresUrl, openStore as openDb } from '../store/open.js';
import type { Store } from '../store/store.js';
import { UsageError, str, type Parsed } from './args.js';
import { isoSeconds } from '../event/accessors.js';

export class CommandError extends Error {
  readonly code = 'E_COMMAND';
}

/** Loads the rules (--rules, RULES_FILE, default); a bad file is a CommandError listing the problems. */
export function loadConfig(p: Parsed, file?: string): RouterConfig {
  const path = file ?? rulesPath(str(p, 'rules'));
  const { config, problems } = loadRules(path);
  if (config === null) {
    throw new CommandError(`the rules file has problems:\n${problems.map(formatProblem).join('\n')}`);
  }
  return config;
}

/** The database of --db, DATABASE_URL or DB_PATH. Commands never create one (serve does). */
export function openStore(p: Parsed, mode: 'read' | 'write'): Store {
  const path = dbPath(str(p, 'db'));
  if (isPostgresUrl(path)) return openDb(path, { postgres: { poolMax: 2, migrate: false, applicationName: `b3os-router ${mode}` } });
  if (!existsSync(path)) {
    throw new CommandError(`no database at ${path}; has the router run here? (set --db, DATABASE_URL or DB_PATH)`);
  }
  return openDb(path, { sqlite: { readonly: mode === 'read', busyTimeoutMs: 5000 } });
}

/**
 * `--since 1h` → a time in ms, or undefined. Read like the rules file's durations: a bare number
 * is refused (`ms` would take "5" as 5 ms, which nobody means here).
 */
export function since(p: Parsed, now = Date.now()): number | undefined {
  const v = str(p, 'since');
  if (v === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) throw new UsageError(`--since ${v.trim()} has no unit; write ${v.trim()}m, ${v.trim()}h or ${v.trim()}d`);
  const d = parseDuration(v);
  if (!d.ok) throw new UsageError(`--since takes a duration like 30m, 1h or 7d, not "${v}"`);
  return now - d.ms;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A plain aligned table for people; scripts use --json. */
export function printTable(headers: string[], rows: (string | number | null)[][]): void {
  const cells = rows.map((r) => r.map((c) => (c === null ? '-' : String(c)).replace(/\s+/g, ' ')));
  const widths = headers.map((h, i) => Math.min(60, Math.max(h.length, ...cells.map((r) => r[i]!.length))));
  const line = (r: string[]) =>
    r.map((c, i) => (i === r.length - 1 ? c : (c.length > widths[i]! ? c.slice(0, widths[i]! - 1) + '…' : c).padEnd(widths[i]!))).join('  ');
  process.stdout.write(line(headers) + '\n');
  for (const r of cells) process.stdout.write(line(r) + '\n');
}

export const iso = (t: number | null) => (t === null ? null : isoSeconds(t));
