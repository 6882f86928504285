import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_TOPIC_NAME, startEventGridEmulator, type EventGridEmulator, type EventGridEmulatorOptions, type EventGridSubscription } from './index';

/**
 * Runs the Event Grid topic emulator on its own:
 *   npx ts-node --transpile-only dev/eventgrid-emulator/cli.ts [--port 7445] [--topic NAME]
 *       [--key BASE64] [--subscriptions FILE.json] [--data-dir DIR] [--retry-delays 200,1000,5000]
 * FILE.json holds an array of subscriptions ({ name, endpoint, eventTypes?, subjectBeginsWith?,
 * deliverySchema?, maxDeliveryAttempts? }). Prints one JSON line with the endpoint, key and CA file.
 */

export const DEFAULT_CLI_PORT = 7445;
const USAGE = 'Usage: eventgrid-emulator [--port N] [--topic NAME] [--key BASE64] [--subscriptions FILE.json] [--data-dir DIR] [--retry-delays MS,MS,...]';

export interface CliArguments {
  port: number;
  topicName: string;
  accessKey?: string;
  subscriptionsFile?: string;
  dataDir?: string;
  retryDelaysMs?: number[];
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a whole number from 0 to 65535, not '${text}'`);
  return port;
}

function parseDelays(text: string): number[] {
  const delays = text.split(',').map((part) => Number(part.trim()));
  if (delays.length === 0 || delays.some((d) => !Number.isFinite(d) || d < 0)) throw new Error(`--retry-delays must be comma-separated milliseconds, not '${text}'`);
  return delays;
}

export function parseCliArguments(argv: readonly string[]): CliArguments {
  const parsed: CliArguments = { port: DEFAULT_CLI_PORT, topicName: DEFAULT_TOPIC_NAME };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    const equals = argument.startsWith('--') ? argument.indexOf('=') : -1;
    const flag = equals > 0 ? argument.slice(0, equals) : argument;
    const inline = equals > 0 ? argument.slice(equals + 1) : undefined;
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '' || (inline === undefined && next.startsWith('--'))) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    switch (flag) {
      case '--port': parsed.port = parsePort(value()); break;
      case '--topic': parsed.topicName = value(); break;
      case '--key': parsed.accessKey = value(); break;
      case '--subscriptions': parsed.subscriptionsFile = resolve(value()); break;
      case '--data-dir': parsed.dataDir = resolve(value()); break;
      case '--retry-delays': parsed.retryDelaysMs = parseDelays(value()); break;
      case '--help': case '-h': throw new Error(USAGE);
      default: throw new Error(`Unknown option '${argument}'\n${USAGE}`);
    }
  }
  return parsed;
}

export function readSubscriptionsFile(file: string): EventGridSubscription[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the subscriptions file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`The subscriptions file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`The subscriptions file ${file} must hold a JSON array of subscriptions`);
  return parsed as EventGridSubscription[];
}

export async function runCli(argv: readonly string[], log: (line: string) => void = (line) => console.log(line)): Promise<EventGridEmulator> {
  const args = parseCliArguments(argv);
  const options: EventGridEmulatorOptions = {
    port: args.port,
    topicName: args.topicName,
    log: (message) => log(`[eventgrid] ${message}`),
  };
  if (args.accessKey !== undefined) options.accessKey = args.accessKey;
  if (args.dataDir !== undefined) options.dataDir = args.dataDir;
  if (args.retryDelaysMs !== undefined) options.retryDelaysMs = args.retryDelaysMs;
  if (args.subscriptionsFile !== undefined) options.subscriptions = readSubscriptionsFile(args.subscriptionsFile);
  const emulator = await startEventGridEmulator(options);
  log(JSON.stringify({ endpoint: emulator.endpoint, accessKey: emulator.accessKey, caFile: emulator.caFile, topic: emulator.topicResourceId, subscriptions: emulator.subscriptions().map((s) => s.name) }));
  return emulator;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((emulator) => {
    const stop = (): void => {
      void emulator.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }, (error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
