// `retry DELIVERY` of a silenced delivery (contract §9): back to pending, due now, as if it had
// never been allowed, so the worker decides it afresh just before the send: the full policy for a
// privileged destination (counted then, Store.admit) and the silences again (still silenced while
// the silence that held it, or another, holds).
import type { Store } from '../store/store.js';
import { printJson } from './context.js';

export async function requeueSilenced(store: Store, id: string, json: boolean): Promise<number> {
  const moved = await store.requeueSilenced([id], Date.now());
  if (json) printJson({ requeued: moved, refused: [] });
  else
    process.stdout.write(
      moved.length === 1
        ? `silenced delivery ${id} put back to pending; it is checked against policy and the silences again before it is sent\n`
        : `delivery ${id} is no longer silenced; nothing to retry\n`,
    );
  return moved.length === 1 ? 0 : 1;
}
