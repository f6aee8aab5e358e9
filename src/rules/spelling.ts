// Likely typos: which known word a person probably meant. Used by `check` for settings, names and
// JSON Logic operators (rules/logic.ts), so it lives below both config and logic.

const SUGGEST_MAX_LENGTH = 100;

/**
 * The candidate closest to `word` when it is close enough to be a likely typo, else null.
 * Case differences count as small; the threshold grows with the word's length.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  // Names this long are pasted, not typed: no guess, and no work in the square of their length.
  if (word.length > SUGGEST_MAX_LENGTH) return null;
  let best: string | null = null;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const c of candidates) {
    if (c === word) continue;
    // The distance is at least the difference in length: no need to compute it past the limit.
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = c.toLowerCase() === w ? 0.5 : editDistance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== null && bestDistance <= limit) return best;
  // A shortened name ("billing" for "billing-sync") is a likely slip too, when it is unambiguous.
  if (w.length >= 4) {
    const containing = candidates.filter(
      (c) => c.length <= SUGGEST_MAX_LENGTH && (c.toLowerCase().includes(w) || (c.length >= 4 && w.includes(c.toLowerCase()))),
    );
    if (containing.length === 1) return containing[0]!;
  }
  return null;
}

/** Edit distance where swapping two neighbouring letters (a common typo) counts as one edit. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[rows - 1]![cols - 1]!;
}
