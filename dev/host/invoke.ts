import { randomBytes, randomUUID } from 'node:crypto';
import { format } from 'node:util';
import { InvocationContext } from '@azure/functions';
import type { FunctionInput, FunctionOutput, FunctionTrigger, LogLevel } from '@azure/functions';
import { hooksFor, type CoreBinding } from './functionsCore';
import type { HostLogger, HostLogLevel } from './log';
import { outputBindings, type FunctionRegistration } from './registrations';

/** Sends what a function put in its queue output bindings. */
export type QueueOutputSink = (binding: CoreBinding, value: unknown) => Promise<void>;

export interface InvocationEnvironment {
  logger: HostLogger;
  queueOutput?: QueueOutputSink;
  /** Shared by appStart/appTerminate and every invocation hook, as the worker does. */
  appHookData: Record<string, unknown>;
}

export interface InvocationOutcome {
  result: unknown;
  context: InvocationContext;
}

const LOG_LEVELS: Record<LogLevel, HostLogLevel | undefined> = {
  trace: 'trace',
  debug: 'debug',
  information: 'information',
  warning: 'warning',
  error: 'error',
  critical: 'critical',
  none: undefined,
};

function runLogHooks(level: LogLevel, message: string, context: InvocationContext, environment: InvocationEnvironment): void {
  for (const hook of hooksFor('log')) {
    try {
      hook({ level, message, category: 'user', invocationContext: context, hookData: {}, appHookData: environment.appHookData });
    } catch (error) {
      environment.logger({ level: 'error', message: `A log hook failed: ${String(error)}` });
    }
  }
}

function createContext(registration: FunctionRegistration, environment: InvocationEnvironment, triggerMetadata: Record<string, unknown>): InvocationContext {
  const invocationId = randomUUID();
  const outputs = outputBindings(registration);
  const returnBinding = outputs.find(([key]) => key === '$return')?.[1];
  const context: InvocationContext = new InvocationContext({
    invocationId,
    functionName: registration.name,
    // The worker gives every invocation a W3C trace context, as the Functions host does.
    traceContext: { traceParent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`, traceState: '', attributes: {} },
    triggerMetadata,
    logHandler: (level, ...args) => {
      const message = format(...args);
      const hostLevel = LOG_LEVELS[level];
      if (hostLevel) environment.logger({ level: hostLevel, message, functionName: registration.name, invocationId });
      runLogHooks(level, message, context, environment);
    },
    options: {
      trigger: registration.trigger as unknown as FunctionTrigger,
      ...(returnBinding ? { return: returnBinding as unknown as FunctionOutput } : {}),
      extraInputs: [] as FunctionInput[],
      extraOutputs: outputs.filter(([key]) => key !== '$return').map(([, binding]) => binding as unknown as FunctionOutput),
    },
  });
  return context;
}

async function deliverQueueOutputs(registration: FunctionRegistration, context: InvocationContext, result: unknown, environment: InvocationEnvironment): Promise<void> {
  for (const [key, binding] of outputBindings(registration)) {
    if (binding.type !== 'queue') continue;
    const value = key === '$return' ? result : context.extraOutputs.get(String(binding.name));
    if (value === undefined || value === null) continue;
    if (!environment.queueOutput) throw new Error(`Function '${registration.name}' has a queue output but the host has no storage connection`);
    await environment.queueOutput(binding, value);
  }
}

/**
 * Runs one invocation the way the worker does: preInvocation hooks (which may swap the inputs or
 * the handler), the handler with its inputs and an InvocationContext, postInvocation hooks (which
 * may replace the result or the error), then the output bindings.
 */
export async function invokeFunction(
  registration: FunctionRegistration,
  inputs: unknown[],
  environment: InvocationEnvironment,
  triggerMetadata: Record<string, unknown> = {},
): Promise<InvocationOutcome> {
  const context = createContext(registration, environment, triggerMetadata);
  const hookData: Record<string, unknown> = {};
  const preContext: Record<string, unknown> = {
    hookData, appHookData: environment.appHookData, invocationContext: context, inputs, functionCallback: registration.handler,
  };
  for (const hook of hooksFor('preInvocation')) await hook(preContext);
  const handler = preContext.functionCallback as (...args: unknown[]) => unknown;
  const finalInputs = preContext.inputs as unknown[];

  let result: unknown;
  let error: unknown;
  let failed = false;
  try {
    result = await handler(...finalInputs, context);
  } catch (caught) {
    error = caught;
    failed = true;
  }
  const postContext: Record<string, unknown> = {
    hookData, appHookData: environment.appHookData, invocationContext: context, inputs: finalInputs, result, error,
  };
  for (const hook of hooksFor('postInvocation')) await hook(postContext);
  if (postContext.error !== error) failed = postContext.error !== undefined && postContext.error !== null;
  if (failed) throw postContext.error;
  result = postContext.result;
  await deliverQueueOutputs(registration, context, result, environment);
  return { result, context };
}

export async function runAppHooks(hookName: 'appStart' | 'appTerminate', environment: InvocationEnvironment): Promise<void> {
  for (const hook of hooksFor(hookName)) await hook({ hookData: environment.appHookData, appHookData: environment.appHookData });
}
