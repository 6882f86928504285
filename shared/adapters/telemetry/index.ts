import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogFields, ServiceLog } from '../../services/ports';

/**
 * The service's telemetry (docs/observability.md). In Azure, APPLICATIONINSIGHTS_CONNECTION_STRING
 * turns on OpenTelemetry with the Azure Monitor exporter; locally TELEMETRY_FILE sends the same
 * spans, metrics and logs to a JSON-lines file. With neither, nothing of OpenTelemetry is loaded: the
 * functions here cost an AsyncLocalStorage lookup, so a cold start does not pay for telemetry it
 * does not send.
 */

import type { Attributes, InvocationInfo, InvocationScope, LogLevel, ServiceMetrics, TelemetryBackend } from './types';

export type { Attributes, InvocationInfo, InvocationKind, InvocationScope, LogLevel, ServiceMetrics, TelemetryBackend } from './types';

const TRACE_PARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function traceIdOf(traceParent: string | undefined): string | undefined {
  return TRACE_PARENT.exec(traceParent ?? '')?.[1];
}

const noMetrics: ServiceMetrics = { revocationLag: () => {}, activeGrants: () => {}, pendingApprovals: () => {}, driftItems: () => {}, hsmThrottled: () => {} };

const off: TelemetryBackend = {
  invocation: (info, run) => run(traceIdOf(info.traceParent)),
  dependency: (_name, _attributes, run) => run(),
  log: () => {},
  metrics: noMetrics,
  flush: async () => {},
};

let backend: TelemetryBackend = off;
let started = false;
const scope = new AsyncLocalStorage<InvocationScope>();

/**
 * Turns telemetry on as the settings say, once per process (OpenTelemetry's providers are global).
 * Never throws: telemetry that cannot start is reported and the app serves without it.
 */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env, report: (problem: string) => void = () => {}): void {
  if (started) return;
  started = true;
  try {
    if (env.APPLICATIONINSIGHTS_CONNECTION_STRING) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      backend = (require('./azureMonitor') as typeof import('./azureMonitor')).startAzureMonitor(env);
    } else if (env.TELEMETRY_FILE) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      backend = (require('./fileExporter') as typeof import('./fileExporter')).startFileTelemetry(env.TELEMETRY_FILE, Number(env.TELEMETRY_EXPORT_INTERVAL_MS) || undefined);
    }
  } catch (error) {
    report(`Telemetry could not start, so none is sent: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function telemetryEnabled(): boolean {
  return backend !== off;
}

/** Runs one invocation as one trace, parented on the host's traceparent. */
export function runInvocation<T>(info: InvocationInfo, run: () => Promise<T>): Promise<T> {
  return backend.invocation(info, (traceId) => scope.run({ functionName: info.functionName, invocationId: info.invocationId, traceId }, run));
}

/** A call to something outside (SMTP) that the Azure SDK does not trace itself. */
export function traceDependency<T>(name: string, attributes: Attributes, run: () => Promise<T>): Promise<T> {
  return backend.dependency(name, attributes, run);
}

export function currentInvocation(): InvocationScope | undefined {
  return scope.getStore();
}

export function metrics(): ServiceMetrics {
  return backend.metrics;
}

/** A log record for the telemetry (with the invocation's ids); the invocation context's log is written separately. */
export function telemetryLog(level: LogLevel, message: string, attributes: Attributes = {}): void {
  backend.log(level, message, attributes);
}

export function flushTelemetry(): Promise<void> {
  return backend.flush();
}

/** Attributes of a log line: the invocation's ids and the caller's fields, without empty ones. */
export function logAttributes(fields: LogFields = {}, invocation: InvocationScope | undefined = currentInvocation()): Attributes {
  const attributes: Attributes = {};
  if (invocation) {
    attributes.functionName = invocation.functionName;
    attributes.invocationId = invocation.invocationId;
    if (invocation.traceId) attributes.traceId = invocation.traceId;
  }
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) attributes[key] = value;
  return attributes;
}

const STREAMS = { info: process.stdout, warn: process.stderr, error: process.stderr } as const;

/**
 * For what runs outside an invocation (loading the entry, the outbox's background publishing): one
 * JSON object a line on the process's output, which the Functions worker forwards to the host's log,
 * and a log record to the telemetry.
 */
export const processLog: ServiceLog = Object.fromEntries(
  (['info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: LogFields) => {
      const attributes = logAttributes(fields);
      STREAMS[level].write(`${JSON.stringify({ level, message, ...attributes })}\n`);
      telemetryLog(level, message, attributes);
    },
  ]),
) as unknown as ServiceLog;
