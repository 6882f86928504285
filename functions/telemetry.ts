import { app, type PreInvocationContext } from '@azure/functions';
import { processLog, runInvocation, startTelemetry, type InvocationKind } from '../shared/adapters/telemetry';

/**
 * Every invocation runs as one trace: a span parented on the traceparent the Functions host gave
 * it, under which the Azure SDK's calls (HSM, ARM, Table, Queue, Event Grid) and SMTP are
 * dependencies, and which problem bodies and log lines name (`traceId`).
 */

function kindOf(triggerType: string): InvocationKind {
  if (triggerType === 'httpTrigger') return 'server';
  if (triggerType === 'timerTrigger') return 'internal';
  return 'consumer';
}

function traceInvocation(context: PreInvocationContext): void {
  const invocation = context.invocationContext;
  const handler = context.functionHandler;
  const info = { functionName: invocation.functionName, invocationId: invocation.invocationId, traceParent: invocation.traceContext?.traceParent ?? undefined, kind: kindOf(invocation.options.trigger.type) };
  context.functionHandler = (...args: unknown[]) => runInvocation(info, async () => (handler as (...a: unknown[]) => unknown)(...args));
}

/** Called by the entry after every other hook, so that it wraps whatever handler they chose. */
export function traceInvocations(env: NodeJS.ProcessEnv = process.env): void {
  startTelemetry(env, (problem) => processLog.error(problem));
  app.hook.preInvocation(traceInvocation);
}
