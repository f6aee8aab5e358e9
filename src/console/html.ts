// Server-side HTML from mustache templates. Every `{{value}}` is HTML-escaped; the templates use
// no `{{{ }}}` or `{{& }}` (a test checks that), so nothing from an event can become markup. Pages
// are composed with partials (`{{> body}}`), not by pasting rendered strings together.
import Mustache from 'mustache';
import { LAYOUT, PAGES, PARTIALS, type PageName } from './templates.js';

// Our own writer and escape, so nothing else in the process (rules/template.ts has its own) can
// change how console pages are escaped.
const writer = new Mustache.Writer();

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '/': '&#x2F;', '`': '&#x60;', '=': '&#x3D;' };
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`=/]/g, (c) => ENTITIES[c]!);
}

export interface Layout {
  title: string;
  /** Which navigation entry is current. */
  section: 'overview' | 'events' | 'deliveries' | 'rules' | 'try' | 'check' | 'silences' | 'sign-in' | 'none';
  /** The session's CSRF token; null when signed out (no navigation, no sign-out button). */
  csrf: string | null;
  /** A one-time message from the previous action. */
  notice: { text: string; bad: boolean } | null;
}

const NAV: { section: Layout['section']; href: string; label: string }[] = [
  { section: 'overview', href: '/console', label: 'Overview' },
  { section: 'events', href: '/console/events', label: 'Events' },
  { section: 'deliveries', href: '/console/deliveries', label: 'Deliveries' },
  { section: 'rules', href: '/console/rules', label: 'Rules' },
  { section: 'try', href: '/console/try', label: 'Try an event' },
  { section: 'check', href: '/console/check', label: 'Try a rules file' },
  { section: 'silences', href: '/console/silences', label: 'Silences' },
];

export function page(name: PageName, layout: Layout, view: object): string {
  const full = {
    ...view,
    layout: {
      title: layout.title,
      signedIn: layout.csrf !== null,
      csrf: layout.csrf ?? '',
      nav: NAV.map((n) => ({ href: n.href, label: n.label, current: n.section === layout.section })),
      notice: layout.notice ? { text: layout.notice.text, bad: layout.notice.bad } : false,
    },
  };
  return writer.render(LAYOUT, full, { ...PARTIALS, body: PAGES[name] }, { escape: escapeHtml });
}
