// The depth check run on every verified body before it is parsed (ingest/http.ts exceedsDepth)
// skips strings with indexOf. Differential: it must say what a plain scan of every character
// says, over generated texts dense in quotes, backslashes and brackets, and over real events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exceedsDepth } from '../src/ingest/http.js';
import { prng } from './helpers/prng.js';

/** The plain scan: one character at a time, a backslash in a string skips the next one. */
function reference(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > max) return true;
    } else if (c === '}' || c === ']') depth--;
  }
  return false;
}

test('exceedsDepth agrees with a plain scan over generated texts', () => {
  const rnd = prng(15);
  const pieces = ['"', '\\', '\\\\', '\\"', '{', '}', '[', ']', 'a', ':', ',', ' ', 'é', '"x"'];
  let deep = 0;
  for (let n = 0; n < 50_000; n++) {
    const len = Math.floor(rnd() * 40);
    let text = '';
    for (let i = 0; i < len; i++) text += pieces[Math.floor(rnd() * pieces.length)];
    for (const max of [0, 1, 2, 4]) {
      const want = reference(text, max);
      if (want) deep++;
      assert.equal(exceedsDepth(text, max), want, `${JSON.stringify(text)} at most ${max}`);
    }
  }
  assert.ok(deep > 10_000, `some texts are too deep (${deep})`);
});

test('exceedsDepth: brackets inside strings do not count, escaped quotes do not end a string', () => {
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
  assert.equal(exceedsDepth(nest(64), 64), false);
  assert.equal(exceedsDepth(nest(65), 64), true);
  assert.equal(exceedsDepth(JSON.stringify({ s: nest(100) }), 64), false);
  assert.equal(exceedsDepth(JSON.stringify({ s: `a"${nest(100)}\\` }), 64), false);
  assert.equal(exceedsDepth(`{"s": "\\\\"}${nest(70)}`, 64), true); // the string ends after \\
  assert.equal(exceedsDepth(`{"s": "\\"${nest(70)}`, 64), false); // never closed: all of it is string
  const event = JSON.stringify({ id: 'e1', type: 'run.failed', data: { tags: ['a', 'b'], error: { message: 'x "y" \\ z [' } } });
  assert.equal(exceedsDepth(event, 64), reference(event, 64));
  assert.equal(exceedsDepth(event, 2), true);
  assert.equal(exceedsDepth(event, 3), false);
});
