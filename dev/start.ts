import { join, resolve } from 'node:path';
import { REPO_ROOT, startStack, type Stack } from './stack';

/**
 * `npm start`: the whole local stack on 127.0.0.1, ready when /api/health answers 200.
 *   npm start -- --fresh              wipe the data directory first
 *   npm start -- --seed drifted       seed the HSM with examples/contoso/hsm-seed-drifted.json (or a path)
 *   npm start -- --data-dir DIR       keep state in DIR instead of .data/
 *   npm start -- --random-ports       free ports instead of 7070/7071/7443/10000-10002
 *   npm start -- --policy FILE        POLICY_FILE for the app (default examples/contoso/policy.yaml)
 */

const READY_WITHIN_MS = 15_000;

interface StartArguments {
  fresh: boolean;
  seed: string;
  dataDir: string;
  randomPorts: boolean;
  policyFile?: string;
}

const USAGE = 'Usage: npm start -- [--fresh] [--seed contoso|drifted|FILE] [--data-dir DIR] [--random-ports] [--policy FILE]';

export function parseArguments(argv: readonly string[]): StartArguments {
  const parsed: StartArguments = { fresh: false, seed: 'contoso', dataDir: join(REPO_ROOT, '.data'), randomPorts: false };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    const [flag, inline] = argument.startsWith('--') && argument.includes('=') ? [argument.slice(0, argument.indexOf('=')), argument.slice(argument.indexOf('=') + 1)] : [argument, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '' || (inline === undefined && next.startsWith('--'))) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    switch (flag) {
      case '--fresh': parsed.fresh = true; break;
      case '--random-ports': parsed.randomPorts = true; break;
      case '--seed': parsed.seed = value(); break;
      case '--data-dir': parsed.dataDir = resolve(value()); break;
      case '--policy': parsed.policyFile = resolve(value()); break;
      case '--help': case '-h': throw new Error(USAGE);
      default: throw new Error(`Unknown option '${argument}'\n${USAGE}`);
    }
  }
  return parsed;
}

/** Probes until `deadline`, and at least once: a stack that took longer to start on a loaded machine is still asked. */
async function waitForHealth(apiUrl: string, deadline: number): Promise<{ ok: boolean; body: unknown }> {
  let last: unknown = 'no answer';
  for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt++) {
    try {
      const response = await fetch(`${apiUrl}/api/health`, { signal: AbortSignal.timeout(5000) });
      last = await response.json().catch(() => response.status);
      if (response.status === 200) return { ok: true, body: last };
    } catch (error) {
      last = String(error);
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  return { ok: false, body: last };
}

function banner(stack: Stack, seconds: number, healthy: boolean, health: unknown): string {
  const { endpoints } = stack;
  const rows: Array<[string, string]> = [
    ['API (Functions host)', `${endpoints.api}/api`],
    ['Dev sign-in', `${endpoints.api}/.auth/login/dev`],
    ['Managed HSM emulator', endpoints.hsm],
    ['HSM emulator CA', endpoints.hsmCaFile],
    ['Identity provider', endpoints.idp],
    ['Mail sink (inbox)', `${stack.mailSink.url}  (SMTP 127.0.0.1:${stack.mailSink.smtpPort})`],
    ['Teams webhook sink', stack.teamsSink.url],
    ['Teams channel (Bot Framework)', `${stack.teamsChannel.url}  (bot: ${endpoints.api}/api/messages)`],
    ['Teams as a persona', `${stack.teamsChannel.url}/chats/sam  (add the bot, then approve on its cards)`],
    ['Event Grid topic', `${stack.eventGrid.endpoint}  (received: ${new URL('/_emulator/events', stack.eventGrid.endpoint).href})`],
    ['Log storage system topic', `BlobCreated of the HSM's AuditEvent blobs (raised: ${new URL('/_emulator/events', stack.storageEvents.endpoint).href})`],
    ['Microsoft Graph (memberships)', `${stack.graph.url}/v1.0  (CA: ${stack.graph.caFile})`],
    ['Azurite blob/queue/table', [stack.azurite.blobEndpoint, stack.azurite.queueEndpoint, stack.azurite.tableEndpoint].join('  ')],
    ['Azurite CA (OAuth over HTTPS)', endpoints.storageCaFile],
    ['Host key', endpoints.hostKey],
    ['Endpoints file', join(stack.dataDir, 'endpoints.json')],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const functions = stack.host.registrations.map((r) => {
    const trigger = r.kind === 'http'
      ? `[${(r.trigger.methods as string[] | undefined)?.join(',') ?? 'GET,POST'}] ${endpoints.api}/${String(r.trigger.route ?? r.name)}`
      : r.kind === 'timer' ? `timer ${String(r.trigger.schedule)}` : r.kind === 'queue' ? `queue ${String(r.trigger.queueName)}` : r.kind === 'blob' ? `blob ${String(r.trigger.path)} (Event Grid)` : 'eventGrid';
    return `  ${r.name}: ${trigger}`;
  });
  return [
    '',
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    '',
    'Functions:',
    ...functions,
    '',
    'Get a token (personas: sam, sara, sean, dave, dana, alice, break-glass, app-vm, ...):',
    '  npm run -s token -- sam',
    'Call the API:',
    `  curl -H "Authorization: Bearer $(npm run -s token -- sam)" ${endpoints.api}/api/health`,
    '',
    healthy
      ? `Ready in ${seconds.toFixed(1)} s (health 200). Ctrl-C stops the stack.`
      : `Started in ${seconds.toFixed(1)} s but /api/health is not 200 yet: ${JSON.stringify(health)}. Ctrl-C stops the stack.`,
  ].join('\n');
}

async function main(): Promise<void> {
  let args: StartArguments;
  try {
    args = parseArguments(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const launchedAt = Date.now() - process.uptime() * 1000;
  const started: { stack?: Stack } = {};
  let stopping = false;
  const shutDown = (running: Stack): void => {
    running.close().then(
      () => {
        console.log('Stopped.');
        process.exit(0);
      },
      (error: unknown) => {
        console.error('Stopping failed:', error);
        process.exit(1);
      },
    );
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`Second ${signal}: exiting without waiting.`);
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: stopping the local stack...`);
    // Still starting: main() stops it as soon as it is up.
    if (started.stack) shutDown(started.stack);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  console.log(`Starting the local stack (data in ${args.dataDir}${args.fresh ? ', fresh' : ''}, HSM seed ${args.seed})...`);
  const stack = await startStack({ dataDir: args.dataDir, ports: args.randomPorts ? 'random' : 'default', seed: args.seed, fresh: args.fresh, auditLog: true, ...(args.policyFile ? { policyFile: args.policyFile } : {}), env: { TELEMETRY_FILE: join(args.dataDir, 'telemetry.jsonl') } });
  started.stack = stack;
  if (stopping) return shutDown(stack);

  // A start slowed by a busy machine still gets its full wait for health once the stack is up.
  const health = await waitForHealth(stack.endpoints.api, Math.max(launchedAt, Date.now()) + READY_WITHIN_MS);
  if (stopping) return;
  console.log(banner(stack, (Date.now() - launchedAt) / 1000, health.ok, health.body));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`The local stack did not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
