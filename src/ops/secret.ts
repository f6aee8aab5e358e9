// Constant-time equality of two secrets (the admin token, a console CSRF token). Hashing both
// sides first gives equal lengths, so timingSafeEqual never leaks a length.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function sameSecret(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}
