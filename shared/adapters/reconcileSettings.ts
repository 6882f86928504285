import { isGuid } from '../domain/roles';
import { ConfigurationError } from './config';

export interface ReconcileSettings {
  /** The pace of every reconciliation call to one HSM (the HSM throttles RBAC calls at a few per second). */
  hsmRequestsPerSecond: number;
  /** How long one execution works on a run before it checkpoints and hands over to the next. */
  executionBudgetMs: number;
  /** How long a `POST /api/reconcile` works before answering 202 and continuing in the background. */
  httpBudgetMs: number;
  /** Failed executions in a row after which a run is given up as `failed`. */
  maxAttempts: number;
  /** The wait after the first failed execution, doubled after each further one (at most 15 minutes). */
  retryDelayMs: number;
  /** The service's own object id, when the policy does not name it as protected. */
  serviceObjectId?: string;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) problems.push(`${name} must be a positive number`);
  return value;
}

export function readReconcileSettings(env: NodeJS.ProcessEnv = process.env): ReconcileSettings {
  const problems: string[] = [];
  const settings: ReconcileSettings = {
    hsmRequestsPerSecond: positive(env, 'HSM_REQUESTS_PER_SECOND', 5, problems),
    // Consumption plans stop a function after 5 minutes by default: stay well inside.
    executionBudgetMs: positive(env, 'RECONCILE_EXECUTION_BUDGET_MS', 4 * 60_000, problems),
    httpBudgetMs: positive(env, 'RECONCILE_HTTP_BUDGET_MS', 20_000, problems),
    maxAttempts: positive(env, 'RECONCILE_MAX_ATTEMPTS', 5, problems),
    retryDelayMs: positive(env, 'RECONCILE_RETRY_DELAY_MS', 30_000, problems),
  };
  if (!Number.isInteger(settings.maxAttempts)) problems.push('RECONCILE_MAX_ATTEMPTS must be a whole number');
  const serviceObjectId = env.SERVICE_OBJECT_ID?.trim();
  if (serviceObjectId) {
    if (!isGuid(serviceObjectId)) problems.push("SERVICE_OBJECT_ID must be the service identity's object id (a GUID)");
    else settings.serviceObjectId = serviceObjectId.toLowerCase();
  }
  if (problems.length > 0) throw new ConfigurationError(problems);
  return settings;
}
