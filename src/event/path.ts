// Dotted paths into an event (`data.error.message`), read safely: own properties only.
import type { EventObject, Json } from './model.js';

// Segments that would walk into an object's prototype machinery. A payload carrying them is data,
// never a way to reach (or change) anything else: such a path resolves to nothing.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Names joined by single dots (`data.workflowId`): no empty name between, before or after a dot.
 * The one shape check of a field path (`match` keys, `group.by`, `silence add --match`); ''
 * passes (each caller decides on it), and forbidden names are compilePath's to refuse. */
export function isDottedPath(path: string): boolean {
  return !path.startsWith('.') && !path.endsWith('.') && !path.includes('..');
}

/** Splits `data.error.message` once, at compile time; null when a segment is forbidden. */
export function compilePath(path: string): string[] | null {
  const parts = path === '' ? [] : path.split('.');
  for (const p of parts) if (FORBIDDEN.has(p)) return null;
  return parts;
}

/** Reads a compiled path from an event: own properties only, arrays by numeric index. */
export function readPath(value: Json | undefined, parts: readonly string[] | null): Json | undefined {
  if (parts === null) return undefined;
  let cur: Json | undefined = value;
  for (const part of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(part)) return undefined;
      cur = cur[Number(part)];
    } else {
      if (!Object.hasOwn(cur, part)) return undefined;
      cur = (cur as EventObject)[part];
    }
  }
  return cur;
}
