import { readFileSync } from 'node:fs';

// Read once from package.json, which ships beside dist/ in every layout we run from.
export const VERSION: string = (() => {
  try {
    const url = new URL('../../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
