// A database is named by a file path (SQLite) or a postgres:// URL (PostgreSQL). The URL may hold
// a password: everything that shows a database to a person goes through describeDb(), and every
// error text from the driver through redact().

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/** The database as shown in logs and messages: a path as is, a URL without its password. */
export function describeDb(spec: string): string {
  if (!isPostgresUrl(spec)) return spec;
  try {
    const u = new URL(spec);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    // Unparsable: show the scheme and host part only, never what follows a colon before an @.
    return spec.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** The password of a URL, raw and percent-encoded, for scrubbing texts that might echo it. */
function secretsOf(spec: string): string[] {
  try {
    const u = new URL(spec);
    const raw = decodeURIComponent(u.password);
    return [...new Set([u.password, raw, encodeURIComponent(raw)])].filter((s) => s.length > 0);
  } catch {
    const m = /\/\/[^:/@]*:([^@/]*)@/.exec(spec);
    return m?.[1] ? [m[1]] : [];
  }
}

/** `text` with the URL's password (in any of its spellings) and the URL itself replaced. */
export function redact(text: string, spec: string): string {
  let out = text.split(spec).join(describeDb(spec));
  for (const s of secretsOf(spec)) out = out.split(s).join('***');
  return out;
}
