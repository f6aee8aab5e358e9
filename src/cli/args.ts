// Flag parsing shared by every command (node:util parseArgs). Every command accepts --rules, --db
// and --json, so scripts can pass the same flags everywhere (contract §7).
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'E_USAGE';
}

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

const COMMON: Spec = {
  rules: { type: 'string' },
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], spec: Spec = {}, maxPositionals = 0): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, ...spec }, allowPositionals: true, strict: true });
    if (positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${positionals[maxPositionals]}"`);
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // parseArgs' messages are clear but long; keep the first sentence.
    throw new UsageError(String((err as Error).message).split('. ')[0]!);
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** Largest whole-number flag: past it a number is no longer exact and SQLite refuses it. */
export const MAX_INT_FLAG = 1_000_000_000;

/** A positive whole number flag, e.g. --limit. */
export function int(p: Parsed, name: string, dflt: number): number {
  const v = str(p, name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} takes a whole number above 0, not "${v}"`);
  if (Number(v) > MAX_INT_FLAG) throw new UsageError(`--${name} is at most ${MAX_INT_FLAG.toLocaleString('en-US')}, not ${v}`);
  return Number(v);
}
