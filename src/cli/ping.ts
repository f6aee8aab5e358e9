// `b3os-router ping DESTINATION [--json]`: sends a clearly marked test message straight to one
// destination (not through the outbox; no server needed), so a rotated SMTP password or a removed
// Slack app is found before an incident. Privileged destinations are refused: a test message to a
// webhook that moves money is exactly what policy exists to prevent.
import { randomUUID } from 'node:crypto';
import type { EventObject } from '../config/types.js';
import { channelEnv } from '../config/options.js';
import { createChannel, type SendResult } from '../delivery/channels/index.js';
import { compose } from '../delivery/compose.js';
import { UsageError, bool, parse } from './args.js';
import { CommandError, loadConfig, printJson } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, {}, 1);
  const name = p.positionals[0];
  if (name === undefined) throw new UsageError('name the destination: ping DESTINATION');
  const config = loadConfig(p);
  const dest = config.destinations.get(name);
  if (!dest) throw new CommandError(`no destination "${name}" in ${config.file}; it has: ${[...config.destinations.keys()].join(', ') || 'none'}`);
  if (dest.privileged) throw new CommandError(`"${name}" is privileged: ping never sends to privileged destinations`);

  const now = new Date();
  const event: EventObject = {
    id: `ping_${randomUUID()}`,
    type: 'b3os-router.ping',
    createdAt: now.toISOString(),
    data: { workflowName: 'b3os-router test message', message: `Test message from b3os-router to "${name}" at ${now.toISOString()}. No action needed.` },
  };
  const raw = JSON.stringify(event);
  const text = `[b3os-router test] ${event.data && (event.data as { message: string }).message}`;
  // Composed by the function the worker sends with, marked as a test.
  const { payload } = compose({
    destination: dest,
    rule: null,
    ruleName: 'ping',
    event,
    raw,
    type: 'b3os-router.ping',
    deliveryId: `ping-${randomUUID()}`,
    attempt: 1,
    fields: config.server.fields,
    test: { text },
    now: now.getTime(),
  });
  const channel = createChannel(dest, channelEnv());
  let result: SendResult;
  try {
    result = await channel.send(payload, AbortSignal.timeout(dest.delivery.timeoutMs + 1000));
  } catch (err) {
    result = { outcome: 'retry', code: null, error: (err as Error).message };
  } finally {
    await channel.close();
  }
  const ok = result.outcome === 'delivered';
  if (bool(p, 'json')) printJson({ destination: name, type: dest.type, ok, code: result.code, error: ok ? null : (result as { error: string }).error });
  else if (ok) process.stdout.write(`${name}: test message accepted${result.code ? ` (${result.code})` : ''}\n`);
  else process.stdout.write(`${name}: test message NOT accepted${result.code ? ` (${result.code})` : ''}: ${(result as { error: string }).error}\n`);
  return ok ? 0 : 1;
}
