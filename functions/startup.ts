import { app, type HttpResponseInit, type PreInvocationContext } from '@azure/functions';
import { appContext, ConfigurationError } from '../shared/app';
import { PolicyError } from '../shared/domain';
import { processLog } from '../shared/app';
import { problemResponse } from './http';

/**
 * A broken policy or setting must not leave the app silent. The Functions worker registers nothing
 * from an entry that throws (it logs a warning, and every route answers 404), so the entry never
 * throws: it registers every function, logs what is wrong at error level, health answers 503
 * naming it, and every other HTTP route answers 503 problem+json.
 */

/** Each problem in words that name the file and line or the setting, never a value. */
export function problemsOf(error: unknown): string[] {
  if (error instanceof ConfigurationError) return error.problems;
  if (error instanceof PolicyError) return error.message.split('\n').slice(1).map((line) => line.trim());
  return [`the app could not start (${error instanceof Error ? error.name : 'unknown error'})`];
}

/** What keeps the app from serving now; empty when it can serve. */
export function currentProblems(): string[] {
  try {
    appContext();
    return [];
  } catch (error) {
    return problemsOf(error);
  }
}

const HEALTH_FUNCTION = 'health';

const unavailable = (): HttpResponseInit =>
  problemResponse(503, 'app-misconfigured', 'The service cannot serve requests until an administrator fixes its policy or settings; GET /api/health says what is wrong');

function refuseWhileBroken(context: PreInvocationContext): void {
  const invocation = context.invocationContext;
  if (invocation.options.trigger.type !== 'httpTrigger' || invocation.functionName === HEALTH_FUNCTION) return;
  const problems = currentProblems();
  if (problems.length === 0) return;
  invocation.error(`Refusing ${invocation.functionName}: the app is misconfigured: ${problems.join('; ')}`);
  context.functionHandler = unavailable;
}

/** Called once by the entry, before the functions register. */
export function checkAtStartup(): void {
  const problems = currentProblems();
  // No invocation context exists while the entry loads: the worker forwards the process's output to the host's log.
  if (problems.length > 0) processLog.error(`The app is misconfigured and answers 503 until fixed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  app.hook.preInvocation(refuseWhileBroken);
}
