// `b3os-router silence add | list | expire` (contract §9). Only writes to the database; a running
// server (every replica) honours a new silence within a second (silence/cache.ts).
import { NOISE_DEFAULTS } from '../config/defaults.js';
import { addSilence, describeSilence, silenceJson } from '../silence/model.js';
import { UsageError, bool, parse, str } from './args.js';
import { CommandError, iso, loadConfig, openStore, printJson, printTable } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(
    argv,
    {
      rule: { type: 'string' },
      destination: { type: 'string' },
      match: { type: 'string', multiple: true },
      for: { type: 'string' },
      until: { type: 'string' },
      comment: { type: 'string' },
      by: { type: 'string' },
      all: { type: 'boolean' },
    },
    2,
  );
  const [sub, id] = p.positionals;
  if (sub !== 'add' && sub !== 'list' && sub !== 'expire') throw new UsageError('say what to do: silence add, silence list or silence expire ID');
  if (sub === 'expire' ? id === undefined : id !== undefined)
    throw new UsageError(sub === 'expire' ? 'name the silence: silence expire ID (see `b3os-router silence list`)' : `unexpected argument "${id}"`);
  const json = bool(p, 'json');
  const now = Date.now();

  if (sub === 'add') {
    const match = p.values.match;
    const request = {
      rule: str(p, 'rule'),
      destination: str(p, 'destination'),
      match: Array.isArray(match) ? match : undefined,
      for: str(p, 'for'),
      until: str(p, 'until'),
      comment: str(p, 'comment'),
      by: str(p, 'by') ?? process.env.USER ?? '',
    };
    const config = loadConfig(p);
    const store = openStore(p, 'write');
    try {
      const added = await addSilence(store, config, request, now);
      if (!added.ok) throw new CommandError(added.message);
      const s = added.silence;
      if (json) printJson(silenceJson(s, now));
      else {
        process.stdout.write(`${s.id}\n`);
        process.stderr.write(`silence ${s.id}: ${describeSilence(s)}, until ${iso(s.endsAt)}; a running server honours it within a second\n`);
      }
      return 0;
    } finally {
      await store.close();
    }
  }

  if (sub === 'list') {
    const store = openStore(p, 'read');
    try {
      const list = await store.listSilences({ now, all: bool(p, 'all'), limit: NOISE_DEFAULTS.silenceList });
      if (json) printJson({ silences: list.map((s) => silenceJson(s, now)) });
      else if (list.length === 0) process.stdout.write(bool(p, 'all') ? 'no silences\n' : 'no active silences\n');
      else {
        printTable(
          ['ID', 'STATE', 'MATCHES', 'UNTIL', 'BY', 'COMMENT'],
          list.map((s) => [s.id, s.endsAt > now ? 'active' : 'ended', describeSilence(s), iso(s.endsAt), s.createdBy || null, s.comment || null]),
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  }

  const store = openStore(p, 'write');
  try {
    const r = await store.expireSilence(id!, now);
    if (r === null) throw new CommandError(`no silence with id "${id}" (see \`b3os-router silence list --all\`)`);
    if (json) printJson({ silence: silenceJson(r.silence, now), ended: r.ended });
    else process.stdout.write(r.ended ? `silence ${id} ended\n` : `silence ${id} had already ended at ${iso(r.silence.endsAt)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
