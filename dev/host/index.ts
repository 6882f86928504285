import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Timer } from '@azure/functions';
import type { TokenVerifier } from '../idp/verify';
import { listenOnLoopback } from '../emulator-common/server';
import { installFunctionsCoreShim } from './coreShim';
import {
  beginCapture, endCapture, setLogSink, uncapturedRegistrations, type CapturedFunction, type CoreLogLevel,
} from './functionsCore';
import { runBlobFunction } from './blobs';
import { invokeFunction, runAppHooks, type InvocationEnvironment } from './invoke';
import { loadOrCreateSecrets } from './keys';
import { consoleLogger, errorText, type HostLogger, type HostLogLevel } from './log';
import { listenToQueue, messageInput, QueueClients, queueSettingsFromHostJson, sendQueueOutput, type QueueListener } from './queues';
import { toRegistration, type FunctionRegistration } from './registrations';
import { buildRoutes, handleRequest, type HostRuntime } from './server';
import { parseSchedule, startTimer, type TimerRunner } from './timers';

export type { FunctionRegistration } from './registrations';
export type { HostLogEntry, HostLogger } from './log';
export { consoleLogger, silentLogger } from './log';

const REPO_ROOT = resolve(__dirname, '..', '..');
const DEFAULT_PORT = 7071;
const DEFAULT_BODY_LIMIT = 1024 * 1024;
const CLOSE_GRACE_MS = 10_000;

export interface FunctionsHostOptions {
  /** 7071 by default; 0 picks a free port. Always bound to 127.0.0.1. */
  port?: number;
  /** App settings, put into process.env before the app loads (and restored on close). */
  env?: Record<string, string | undefined>;
  /** Where `host-keys.json` is kept; without it the keys live only as long as the host. */
  dataDir?: string;
  /** Verifies bearer tokens for the App Service Authentication emulation; without it bearer tokens never authenticate. */
  verifier?: TokenVerifier;
  /** The app's entry module (default `functions/index`). */
  entry?: string;
  /** host.json (default the repository's). */
  hostJsonPath?: string;
  /** Larger request bodies get 413 before any function runs (default 1 MiB). */
  maxRequestBodyBytes?: number;
  /** A fixed host key instead of the stored or generated one. */
  hostKey?: string;
  logger?: HostLogger;
  /** Run timer schedules (default true). `POST /admin/functions/{name}` works either way. */
  timers?: boolean;
  /** Poll storage queues for queue-triggered functions (default true). */
  queues?: boolean;
}

export interface FunctionsHost {
  /** `http://127.0.0.1:{port}` */
  readonly url: string;
  /** `{url}/{routePrefix}`, e.g. `http://127.0.0.1:7071/api` */
  readonly apiUrl: string;
  readonly port: number;
  readonly hostKey: string;
  /** The `blobs_extension` system key: `/runtime/webhooks/blobs?functionName=Host.Functions.{name}&code=...`. */
  readonly blobsExtensionKey: string;
  readonly registrations: readonly FunctionRegistration[];
  /** Runs a timer, Event Grid or queue function now and waits for it, like `POST /admin/functions/{name}`. */
  run(functionName: string, input?: unknown): Promise<void>;
  close(): Promise<void>;
}

let activeHost: string | undefined;

function readHostJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new Error(`host.json not found at ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function routePrefixOf(hostJson: Record<string, unknown>): string {
  const http = ((hostJson.extensions ?? {}) as Record<string, unknown>).http as Record<string, unknown> | undefined;
  const prefix = http?.routePrefix;
  return typeof prefix === 'string' ? prefix.replace(/^\/+|\/+$/g, '') : 'api';
}

function applyEnv(env: Record<string, string | undefined>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(env)) {
    previous.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** Outside jest (which compiles TypeScript itself) a `.ts` entry needs ts-node. */
function ensureTypeScriptLoader(entryPath: string): void {
  const extensions = (require as NodeJS.Require & { extensions?: Record<string, unknown> }).extensions;
  if (!entryPath.endsWith('.ts') || process.env.JEST_WORKER_ID !== undefined || !extensions || extensions['.ts']) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('ts-node') as typeof import('ts-node')).register({ transpileOnly: true, project: join(REPO_ROOT, 'tsconfig.json') });
}

function loadApp(entry: string, logger: HostLogger): CapturedFunction[] {
  const entryPath = require.resolve(entry);
  ensureTypeScriptLoader(entryPath);
  beginCapture();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entryPath);
  } catch (error) {
    // As the Node worker does: a warning, and whatever registered before the throw is all there is.
    logger({ level: 'warning', message: `Worker was unable to load entry point "${entryPath}": ${errorText(error)}` });
  }
  const captured = [...endCapture(entryPath)];
  for (const early of uncapturedRegistrations()) {
    // A module imported before any host started registered outside a capture; it belongs to the app too.
    if (captured.some((c) => c.metadata.name.toLowerCase() === early.metadata.name.toLowerCase())) continue;
    captured.push(early);
    logger({ level: 'debug', message: `Function '${early.metadata.name}' was registered before the host loaded the app` });
  }
  if (captured.length === 0) {
    logger({ level: 'warning', message: `No job functions found: ${entryPath} registered none, so every route answers 404. Was '@azure/functions' used before the local host installed '@azure/functions-core'?` });
  }
  return captured;
}

function timerNow(): Timer {
  const now = new Date().toISOString();
  return { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: now, next: now, lastUpdated: now } };
}

/**
 * Loads the app (functions/index) with our `@azure/functions-core`, then serves what it
 * registered: HTTP routes under the route prefix with App Service Authentication emulated, timer
 * schedules, the Event Grid webhook, storage queue triggers and the admin API.
 */
export async function startFunctionsHost(options: FunctionsHostOptions = {}): Promise<FunctionsHost> {
  if (activeHost) throw new Error(`A local Functions host is already running in this process (${activeHost}); app settings are process-wide, so close it first`);
  const logger = options.logger ?? consoleLogger;
  const hostJson = readHostJson(options.hostJsonPath ?? join(REPO_ROOT, 'host.json'));
  const routePrefix = routePrefixOf(hostJson);
  const secrets = loadOrCreateSecrets(options.dataDir, options.hostKey ? { hostKey: options.hostKey } : {});
  const queueSettings = queueSettingsFromHostJson(hostJson);
  activeHost = 'starting';
  const restoreEnv = applyEnv(options.env ?? {});
  setLogSink((level: CoreLogLevel, _category, message) => {
    if (level !== 'none') logger({ level: level as HostLogLevel, message });
  });

  const timers = new Map<string, TimerRunner>();
  const listeners: QueueListener[] = [];
  const inflight = new Set<Promise<unknown>>();
  const server = createServer();
  let port = 0;

  function track<T>(promise: Promise<T>): Promise<T> {
    inflight.add(promise);
    void promise.finally(() => inflight.delete(promise)).catch(() => undefined);
    return promise;
  }

  try {
    installFunctionsCoreShim();
    const registrations = loadApp(resolve(REPO_ROOT, options.entry ?? 'functions/index'), logger).map(toRegistration);
    const routes = buildRoutes(registrations);
    for (const registration of registrations.filter((r) => r.kind === 'timer')) {
      try {
        parseSchedule(String(registration.trigger.schedule ?? ''));
      } catch (error) {
        throw new Error(`Function '${registration.name}': ${(error as Error).message}`);
      }
    }
    const queueClients = new QueueClients(process.env);
    const invocation: InvocationEnvironment = {
      logger,
      appHookData: {},
      queueOutput: (binding, value) => sendQueueOutput(queueClients, queueSettings, binding, value),
    };

    const invokeLogged = async (registration: FunctionRegistration, inputs: unknown[], reason: string, triggerMetadata: Record<string, unknown> = {}): Promise<void> => {
      const started = Date.now();
      logger({ level: 'information', functionName: registration.name, message: `Executing '${registration.name}' (Reason='${reason}')` });
      try {
        await invokeFunction(registration, inputs, invocation, triggerMetadata);
        logger({ level: 'information', functionName: registration.name, message: `Executed '${registration.name}' (Succeeded, ${Date.now() - started}ms)` });
      } catch (error) {
        logger({ level: 'error', functionName: registration.name, message: `Executed '${registration.name}' (Failed, ${Date.now() - started}ms): ${errorText(error)}` });
        throw error;
      }
    };

    async function runNow(registration: FunctionRegistration, input: unknown): Promise<void> {
      switch (registration.kind) {
        case 'timer': {
          const runner = timers.get(registration.name);
          if (runner) return runner.fire(false);
          return invokeLogged(registration, [timerNow()], 'Manual');
        }
        case 'eventGrid': {
          const event = typeof input === 'string' ? messageInput(input) : input;
          if (typeof event !== 'object' || event === null) throw new Error('An Event Grid function needs an event object as input');
          return invokeLogged(registration, [event], 'Manual');
        }
        case 'queue': {
          const text = typeof input === 'string' ? input : JSON.stringify(input ?? null);
          return invokeLogged(registration, [typeof input === 'string' ? messageInput(input) : input], 'Manual', { id: randomUUID(), dequeueCount: 1, queueTrigger: text });
        }
        case 'blob': {
          // The input names the blob as the trigger's path does: `container/name`.
          const [container, ...rest] = String(input ?? '').split('/');
          if (!container || rest.length === 0) throw new Error('A blob function needs the blob as input: "container/name"');
          const target = { container, blobName: rest.join('/'), url: '' };
          if (!(await runBlobFunction(registration, target, invocation))) throw new Error(`${String(input)} does not match the trigger path ${String(registration.trigger.path)}`);
          return;
        }
        case 'http':
          throw new Error(`'${registration.name}' is an HTTP function: call its route`);
      }
    }

    const runtime: HostRuntime = {
      registrations,
      routes,
      routePrefix,
      hostKey: secrets.hostKey,
      blobsExtensionKey: secrets.blobsExtensionKey,
      sessionSecret: secrets.sessionSecret,
      verifier: options.verifier,
      maxRequestBodyBytes: options.maxRequestBodyBytes ?? DEFAULT_BODY_LIMIT,
      logger,
      invocation,
      origin: () => `http://127.0.0.1:${port}`,
      runNow: (registration, input) => track(runNow(registration, input)),
    };
    server.on('request', (req, res) => void track(handleRequest(runtime, req, res)));

    await runAppHooks('appStart', invocation);
    port = await listenOnLoopback(server, options.port ?? DEFAULT_PORT);
    activeHost = `http://127.0.0.1:${port}`;

    if (options.timers !== false) {
      for (const registration of registrations.filter((r) => r.kind === 'timer')) {
        const runner = startTimer(
          registration,
          (r, timer) => track(invokeLogged(r, [timer], timer.isPastDue ? 'Timer fired late' : `Timer fired at ${new Date().toISOString()}`)),
          { runOnStartup: registration.trigger.runOnStartup === true },
        );
        timers.set(registration.name, runner);
      }
    }
    if (options.queues !== false) {
      for (const registration of registrations.filter((r) => r.kind === 'queue')) {
        // As the Functions host does, a listener that cannot start (storage unreachable, its token not
        // issued yet) is logged and retried by polling; the host keeps running its other functions.
        await queueClients.get(registration.trigger).catch((error: unknown) => {
          logger({ level: 'error', functionName: registration.name, message: `The listener for function 'Functions.${registration.name}' was unable to start: ${errorText(error)}` });
        });
        listeners.push(listenToQueue(registration, {
          clients: queueClients,
          settings: queueSettings,
          logger,
          invoke: (r, input, metadata) => track(invokeLogged(r, [input], `New queue message detected on '${String(r.trigger.queueName)}'`, metadata)),
        }));
      }
    }

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        for (const runner of timers.values()) runner.stop();
        const serverClosed = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        await Promise.all(listeners.map((listener) => listener.stop()));
        let graceTimer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...inflight]),
          new Promise<void>((done) => { graceTimer = setTimeout(done, CLOSE_GRACE_MS); }),
        ]);
        clearTimeout(graceTimer);
        server.closeAllConnections();
        await serverClosed;
        try {
          await runAppHooks('appTerminate', invocation);
        } finally {
          setLogSink(undefined);
          restoreEnv();
          activeHost = undefined;
        }
      })();
      return closing;
    };

    return {
      url: `http://127.0.0.1:${port}`,
      apiUrl: `http://127.0.0.1:${port}${routePrefix ? `/${routePrefix}` : ''}`,
      port,
      hostKey: secrets.hostKey,
      blobsExtensionKey: secrets.blobsExtensionKey,
      registrations,
      run: async (functionName, input) => {
        const registration = registrations.find((r) => r.name.toLowerCase() === functionName.toLowerCase());
        if (!registration) throw new Error(`No function named '${functionName}'`);
        await runtime.runNow(registration, input);
      },
      close,
    };
  } catch (error) {
    for (const runner of timers.values()) runner.stop();
    await Promise.all(listeners.map((listener) => listener.stop()));
    if (server.listening) await new Promise<void>((done) => server.close(() => done()));
    setLogSink(undefined);
    restoreEnv();
    activeHost = undefined;
    throw error;
  }
}
