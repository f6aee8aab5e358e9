// `${VAR}` and `${VAR:-default}` in any string value of the rules file, read from the environment
// (contract §3). Done on the parsed YAML nodes, before validation, so that a missing variable can
// be reported at the exact line and column where it is written. `$${` writes a literal `${`.
// Values from the environment are often secrets: each is registered with the Problems collector,
// so no message (from `check` or a refused reload) ever shows one; messages name the variable.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { Path, PathSeg, Problems } from './problems.js';

export type Env = Record<string, string | undefined>;

export interface InterpolationIssue {
  kind: 'missing' | 'malformed';
  /** The variable's name (missing), or the text that is not a reference (malformed). */
  name: string;
  /** Offset of the `${` in the original string. */
  index: number;
  text: string;
}

// `$${` (escape), a well-formed reference, or a `${` that starts something else.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/** Replaces every reference in one string. Pure: the environment is passed in. */
/** A variable whose value from the environment went into a string: never to be shown. */
export interface EnvReference {
  name: string;
  value: string;
}

export function interpolateString(text: string, env: Env): { value: string; issues: InterpolationIssue[]; used: EnvReference[] } {
  if (!text.includes('${')) return { value: text, issues: [], used: [] };
  const issues: InterpolationIssue[] = [];
  const used: EnvReference[] = [];
  const value = text.replace(REFERENCE, (whole: string, name: string | undefined, dflt: string | undefined, index: number) => {
    if (whole === '$${') return '${';
    if (name === undefined) {
      issues.push({ kind: 'malformed', name: text.slice(index, index + 24), index, text: whole });
      return whole;
    }
    const set = env[name];
    if (dflt !== undefined && (set === undefined || set === '')) return dflt;
    if (set === undefined) {
      issues.push({ kind: 'missing', name, index, text: whole });
      return '';
    }
    used.push({ name, value: set });
    return set;
  });
  return { value, issues, used };
}

/**
 * Interpolates every string scalar of the document in place (map keys are left alone) and reports
 * problems at the reference itself. Returns the paths of values that had a problem, so later
 * checks can leave them alone instead of piling a second message onto the same mistake.
 */
export function interpolateDocument(doc: Document, source: string, lines: LineCounter, env: Env, problems: Problems): Path[] {
  const tainted: Path[] = [];
  const visit = (node: Node | null | undefined, path: PathSeg[]): void => {
    if (!node) return;
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
        visit(item.value as Node | null, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        visit(item as Node | null, [...path, i]);
      });
    } else if (isScalar(node) && typeof node.value === 'string') {
      const { value, issues, used } = interpolateString(node.value, env);
      node.value = value;
      if (used.length > 0) problems.fromEnvironment(path, used);
      if (issues.length > 0) {
        tainted.push(path);
        report(node, issues);
      }
    }
  };
  const report = (node: Node, issues: InterpolationIssue[]): void => {
    const [start, end] = node.range ?? [0, 0];
    const raw = source.slice(start, end);
    let cursor = 0;
    for (const issue of issues) {
      // Find the reference in the source text (quotes and folding shift it from the value's index).
      const found = raw.indexOf(issue.text, cursor);
      const offset = found >= 0 ? start + found : start;
      if (found >= 0) cursor = found + issue.text.length;
      const { line, col } = lines.linePos(offset);
      problems.add('error', { line, col }, issueMessage(issue));
    }
  };
  visit(doc.contents as Node | null, []);
  return tainted;
}

function issueMessage(issue: InterpolationIssue): string {
  if (issue.kind === 'missing') {
    return `the environment variable ${issue.name} is not set; set it before starting the router, ` + `or give a default with \${${issue.name}:-default}`;
  }
  return `"${issue.name}" is not a variable reference; write \${NAME} or \${NAME:-default} ` + '(letters, digits and _), or $${ for a literal "${"';
}
