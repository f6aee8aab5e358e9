// `b3os-router subscription [--url URL] [--name NAME] [--json]`: prints the body to register this
// router with B3OS (POST /v1/execution-webhooks) and the curl line that sends it. It sends nothing.
// --json prints the body alone (pipe it to curl --data @-); the notes then go to stderr.
import { DEFAULT_SUBSCRIPTION } from '../config/defaults.js';
import { curlLine, subscriptionBody } from '../ops/subscription.js';
import { UsageError, bool, parse, str } from './args.js';
import { loadConfig, printJson } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { url: { type: 'string' }, name: { type: 'string' } });
  const url = str(p, 'url');
  if (url !== undefined && !/^https?:\/\/[^/?#\s]+/i.test(url)) {
    throw new UsageError(`--url takes the router's public address, such as https://router.example.com, not "${url}"`);
  }
  if (url !== undefined && !URL.canParse(url))
    throw new UsageError(`--url "${url}" is not a valid address; write it like https://router.example.com/b3os/hooks`);
  const name = str(p, 'name');
  if (name !== undefined && name.trim() === '') throw new UsageError('--name takes a name for the hook in B3OS, such as b3os-router-prod');
  const config = loadConfig(p);
  const { body, notes } = subscriptionBody(config, { url, name });
  const key = process.env[DEFAULT_SUBSCRIPTION.apiKeyVariable];
  if (key !== undefined && key !== '' && !key.startsWith(DEFAULT_SUBSCRIPTION.apiKeyPrefix)) {
    notes.push(`${DEFAULT_SUBSCRIPTION.apiKeyVariable} is set but does not start with ${DEFAULT_SUBSCRIPTION.apiKeyPrefix}, as B3OS API keys do`);
  }

  if (bool(p, 'json')) {
    printJson(body);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    return 0;
  }
  const out = [`Register this router with B3OS (this command sends nothing):`, '', `POST ${DEFAULT_SUBSCRIPTION.endpoint}`, JSON.stringify(body, null, 2)];
  if (notes.length) out.push('', 'notes:', ...notes.map((n) => `  - ${n}`));
  out.push(
    '',
    `To send it, put a B3OS API key (it starts with ${DEFAULT_SUBSCRIPTION.apiKeyPrefix}) in ${DEFAULT_SUBSCRIPTION.apiKeyVariable} and run:`,
    '',
    curlLine(body),
    '',
    "Then give the router this hook's signing secret as B3OS_WEBHOOK_SECRET.",
  );
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
