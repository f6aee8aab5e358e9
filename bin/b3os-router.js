#!/usr/bin/env node
// The `b3os-router` executable. The TypeScript sources compile to dist/ (`npm run build`, which
// `npm start` and `npm test` run for you).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('b3os-router: not built yet; run `npm run build` (npm start does it for you)\n');
  process.exit(1);
}
await import(main);
