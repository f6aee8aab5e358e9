// Escaping text for where it goes: Slack mrkdwn, HTML, the inside of a JSON string, or nothing.
// Templates escape every value with these, and so do the default summaries.
import type { EnvValue } from './config.js';
import type { TemplateEscape } from './model.js';

/** Escapes text for a target. `json` gives the inside of a JSON string literal (no quotes). */
export function escapeText(text: string, escape: TemplateEscape): string {
  switch (escape) {
    case 'slack':
      return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    case 'html':
      return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    case 'json':
      return JSON.stringify(text)
        .slice(1, -1)
        .replace(/\u2028/g, '\\u2028')
        .replace(/\u2029/g, '\\u2029');
    case 'none':
      return text;
  }
}

/** The text with each value from the environment replaced by `${NAME}` (values longest first, so
 * one that contains another is replaced whole). Secrets in URLs, headers and bodies stay out of
 * what `test` and the console show, and out of `check`'s messages. */
export function withholdEnv(text: string, values: readonly EnvValue[]): string {
  for (const v of values) if (text.includes(v.value)) text = text.split(v.value).join(`\${${v.name}}`);
  return text;
}
