// Problems found in a rules file, and where they are. Every check in config/ reports through a
// Problems collector so that `check`, `serve` and a reload all print the same `FILE:LINE:COL:` lines.
// The people reading them are often not engineers: messages are plain sentences that say what to
// write instead.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { Problem } from './types.js';
import type { EnvValue } from '../event/config.js';
import { withholdEnv } from '../event/escape.js';
import { PROBLEMS_LISTED } from './defaults.js';
import { closest } from '../rules/spelling.js';

export { closest };

/** A step into the parsed file: a map key or a list index (a JSON pointer, split). */
export type PathSeg = string | number;
export type Path = readonly PathSeg[];

/** Point at the key of a map entry (`sendto:`) or at its value. */
export type Part = 'key' | 'value';

export interface Position {
  line: number;
  col: number;
}

export type Locate = (path: Path, part?: Part) => Position;

// Environment values at least this long are taken out of every message wherever they appear;
// shorter ones ("8", "true") would also match ordinary words, and are kept out by the messages
// about their own setting, which name the variable instead of quoting the value (showAt).
const REDACT_MIN_LENGTH = 6;

export class Problems {
  readonly list: Problem[] = [];
  private readonly seen = new Set<string>();
  private errors = 0;
  /** The last line of a list that reached PROBLEMS_LISTED: how many more there are. */
  private more: (Problem & { more: { problems: number; errors: number } }) | null = null;
  private readonly env = new Map<string, EnvValue[]>();
  private readonly envPaths: Path[] = [];
  private readonly secrets: EnvValue[] = [];
  /**
   * Set when the file was read with stand-ins for the environment (the console): every value
   * from a variable is a placeholder, so its content is not checked (see unchecked).
   */
  standIns = false;

  constructor(
    readonly file: string,
    private readonly locate: Locate,
  ) {}

  error(path: Path, message: string, part: Part = 'value'): void {
    this.add('error', this.locate(path, part), message);
  }

  warn(path: Path, message: string, part: Part = 'value'): void {
    this.add('warning', this.locate(path, part), message);
  }

  /** Records that the value at `path` holds values from the environment. */
  fromEnvironment(path: Path, used: readonly EnvValue[]): void {
    if (!this.env.has(key(path))) this.envPaths.push([...path]);
    this.env.set(key(path), [...used]);
    for (const u of used) if (u.value.length >= REDACT_MIN_LENGTH) this.secrets.push(u);
    // Longest first, so a value that contains another is replaced whole.
    this.secrets.sort((a, b) => b.value.length - a.value.length);
  }

  /** The variables the value at `path` came from, or null when it is written in the file. */
  envNames(path: Path): string[] | null {
    const used = this.env.get(key(path));
    return used ? [...new Set(used.map((u) => u.name))] : null;
  }

  /** PROBLEMS_LISTED reached: what comes now is only counted, so its sentence need not be made. */
  get full(): boolean {
    return this.seen.size >= PROBLEMS_LISTED;
  }

  /** `; did you mean "x"?`, or '' (also once the list is full: each guess compares with every name). */
  suggest(word: string, candidates: readonly string[]): string {
    return this.full ? '' : didYouMean(word, candidates);
  }

  /** The values taken out of every message (RouterConfig.fromEnv), longest first. */
  withheld(): EnvValue[] {
    // Each value also as it reads inside a JSON string (a webhook body escapes `"`, `\` and
    // control characters), longest first as always.
    const out = [...this.secrets];
    for (const v of this.secrets) {
      const escaped = JSON.stringify(v.value).slice(1, -1);
      if (escaped !== v.value) out.push({ name: v.name, value: escaped });
    }
    return out.sort((a, b) => b.value.length - a.value.length);
  }

  /** With stand-ins: the value at `path` came from a variable that is set; it is not checked. */
  unchecked(path: Path): boolean {
    return this.standIns && this.env.has(key(path));
  }

  /** With stand-ins: the values that came from the environment (the schema leaves them alone). */
  uncheckedPaths(): Path[] {
    return this.standIns ? [...this.envPaths] : [];
  }

  /**
   * A value at `path` as a message shows it: quoted (showValue), or, when it came from the
   * environment, the variables it came from and never the value.
   */
  showAt(path: Path, value: unknown): string {
    const names = this.envNames(path);
    if (names === null) return showValue(value);
    return `the value of ${listWords(
      names.map((n) => `\${${n}}`),
      'and',
    )} (not shown)`;
  }

  add(severity: Problem['severity'], at: Position, message: string): void {
    message = withholdEnv(message, this.secrets);
    // Two routes to the same finding (e.g. a schema branch and a semantic check) print once.
    const id = `${at.line}:${at.col}:${message}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    if (severity === 'error') this.errors++;
    if (this.seen.size <= PROBLEMS_LISTED) {
      this.list.push({ file: this.file, line: at.line, col: at.col, severity, message });
      return;
    }
    // Past the limit: one line, at the first one not listed, says how many more there are.
    if (this.more === null) {
      this.more = { file: this.file, line: at.line, col: at.col, severity, message: '', more: { problems: 0, errors: 0 } };
      this.list.push(this.more);
    }
    const m = this.more;
    m.more.problems++;
    if (severity === 'error') m.more.errors++;
    m.severity = m.more.errors > 0 ? 'error' : 'warning';
    const { problems: n, errors: e } = m.more;
    m.message = `${n} more problem${n === 1 ? '' : 's'} (${e} error${e === 1 ? '' : 's'}) not listed, the first of them here; fix the ones listed and run check again`;
  }

  position(path: Path, part: Part = 'value'): Position {
    return this.locate(path, part);
  }

  get hasErrors(): boolean {
    return this.errors > 0;
  }

  /** Errors first would hide the order of the file; sort by place, as an editor lists them. */
  sorted(): Problem[] {
    // The "more" line stays last: it counts what comes after the ones listed.
    const listed = this.more ? this.list.filter((p) => p !== this.more) : [...this.list];
    listed.sort((a, b) => a.line - b.line || a.col - b.col);
    return this.more ? [...listed, this.more] : listed;
  }
}

function key(path: Path): string {
  return JSON.stringify(path.map(String));
}

/** `FILE:LINE:COL: message`, or `FILE:LINE:COL: warning: message`. */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

/**
 * Maps a path in the parsed data back to the YAML node it came from. A path that does not exist
 * (a missing key, a value produced by a merge key) points at the nearest ancestor that does.
 */
export function yamlLocator(doc: Document, lines: LineCounter): Locate {
  const at = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { line, col };
  };
  // Each map's keys indexed once: a file with many problems in one large map is located in linear
  // time, not a scan of the map per problem. The first pair of a repeated key wins, as before.
  const indexes = new WeakMap<Node, Map<string, Pair>>();
  const pairOf = (node: Node, seg: PathSeg): Pair | undefined => {
    let index = indexes.get(node);
    if (!index) {
      index = new Map();
      for (const item of (node as { items: unknown[] }).items) {
        if (!isPair(item)) continue;
        const k = String(isScalar(item.key) ? item.key.value : item.key);
        if (!index.has(k)) index.set(k, item);
      }
      indexes.set(node, index);
    }
    return index.get(String(seg));
  };
  return (path, part = 'value') => {
    let node: Node | null = doc.contents as Node | null;
    let keyNode: Node | null = null;
    for (const seg of path) {
      keyNode = null;
      let next: Node | null = null;
      if (isMap(node)) {
        const item = pairOf(node, seg);
        if (item) {
          keyNode = isScalar(item.key) || isMap(item.key) || isSeq(item.key) ? (item.key as Node) : null;
          next = (item.value as Node | null) ?? null;
          // `key:` with nothing after it has no value node; the key is the best place.
          if (next === null && keyNode) next = keyNode;
        }
      } else if (isSeq(node) && typeof seg === 'number') {
        next = (node.items[seg] as Node | undefined) ?? null;
      }
      if (next === null) break;
      node = next;
    }
    const target = part === 'key' && keyNode ? keyNode : node;
    return target?.range ? at(target.range[0]) : { line: 1, col: 1 };
  };
}

/** For problems with no document to point into (a missing file, unreadable text). */
export const startOfFile: Locate = () => ({ line: 1, col: 1 });

/** `; did you mean "x"?` or '' — appended to a message. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === null ? '' : `; did you mean "${c}"?`;
}

/** A value as it would appear in a message: strings quoted, long values shortened. */
export function showValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `a`, `a or b`, `a, b or c`. */
export function listWords(words: readonly string[], last = 'or'): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`;
}

/** Errors and warnings in a list, counting those a cut list's last line stands for. */
export function countProblems(list: readonly Problem[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const p of list) {
    const n = p.more?.problems ?? 1;
    const e = p.more ? p.more.errors : p.severity === 'error' ? 1 : 0;
    errors += e;
    warnings += n - e;
  }
  return { errors, warnings };
}
