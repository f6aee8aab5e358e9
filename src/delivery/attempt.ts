// One guarded send: the channel's own timeout applies inside it, and this guard beyond it means a
// channel bug can never hold a worker slot forever. A send that throws is a retryable failure.
import type { Composed } from './compose.js';
import type { Channel, SendResult } from './channels/channel.js';

export async function attempt(channel: Channel, payload: Composed, guardMs: number, signal: AbortSignal): Promise<SendResult> {
  let guard: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      channel.send(payload, signal),
      new Promise<SendResult>((resolve) => {
        guard = setTimeout(() => resolve({ outcome: 'retry', code: null, error: `no answer within ${guardMs} ms` }), guardMs);
      }),
    ]);
  } catch (err) {
    return { outcome: 'retry', code: null, error: (err as Error).message || 'send failed' };
  } finally {
    clearTimeout(guard);
  }
}
