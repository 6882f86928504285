import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext, type AppContext } from '../shared/app';
import { maySeeHealthDetails } from '../shared/domain';
import { callerOf, endpoint } from './http';
import { problemsOf } from './startup';

/** Each dependency gets this long to answer before it counts as down. */
export const CHECK_TIMEOUT_MS = 3000;

export interface CheckResult {
  ok: boolean;
  ms: number;
  /** Why it failed, in a few words: never a message, URL, secret or stack. */
  error?: string;
}

class CheckTimeout extends Error {}

function failureReason(error: unknown): string {
  if (error instanceof CheckTimeout) return `no answer within ${CHECK_TIMEOUT_MS} ms`;
  const details = error as { statusCode?: unknown; code?: unknown; name?: unknown; cause?: { code?: unknown } };
  if (typeof details.statusCode === 'number') return `HTTP ${details.statusCode}${typeof details.code === 'string' && /^\w+$/.test(details.code) ? ` ${details.code}` : ''}`;
  const code = typeof details.code === 'string' ? details.code : typeof details.cause?.code === 'string' ? details.cause.code : undefined;
  if (code && /^[A-Z][A-Z_]+$/.test(code)) return code;
  if (details.name === 'AuthenticationError' || details.name === 'CredentialUnavailableError') return 'the service identity could not get a token';
  return 'unreachable';
}

async function timedCheck(probe: (signal: AbortSignal) => Promise<unknown>): Promise<CheckResult> {
  const started = Date.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new CheckTimeout());
    }, CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(controller.signal), timeout]);
    return { ok: true, ms: Date.now() - started };
  } catch (error) {
    return { ok: false, ms: Date.now() - started, error: failureReason(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** The first page of role assignments at `/`, as the service itself: proves reachability, TLS, token and RBAC. */
async function probeHsm(context: AppContext, abortSignal: AbortSignal): Promise<void> {
  const assignments = context.hsm().listRoleAssignments('/', { abortSignal });
  await assignments.byPage().next();
}

/** How long one probe's answer serves every caller: anonymous callers cannot spend the HSM's request budget. */
export const HEALTH_CACHE_MS = 5000;
/** A failed probe is repeated sooner, so that a recovery shows within a second (still at most one probe a second). */
export const FAILED_HEALTH_CACHE_MS = 1000;

interface HealthReport {
  healthy: boolean;
  checks: Record<string, CheckResult>;
  checkedAt: string;
}

/** One probe at a time; callers while it runs share it, and its answer is reused for `ttlMs(answer)`. */
export class SharedProbe<T> {
  private last: { value: T; at: number } | undefined;
  private running: Promise<T> | undefined;

  constructor(private readonly probe: () => Promise<T>, private readonly ttlMs: (value: T) => number, private readonly now: () => number = Date.now) {}

  get(): Promise<T> {
    if (this.last && this.now() - this.last.at < this.ttlMs(this.last.value)) return Promise.resolve(this.last.value);
    this.running ??= this.probe()
      .then((value) => {
        this.last = { value, at: this.now() };
        return value;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}

async function probeAll(context: AppContext): Promise<HealthReport> {
  const [storage, hsm] = await Promise.all([
    timedCheck((signal) => context.pingStorage(signal)),
    timedCheck((signal) => probeHsm(context, signal)),
  ]);
  return { healthy: storage.ok && hsm.ok, checks: { storage, hsm }, checkedAt: new Date().toISOString() };
}

const probes = new WeakMap<AppContext, SharedProbe<HealthReport>>();

function sharedProbe(context: AppContext): SharedProbe<HealthReport> {
  let probe = probes.get(context);
  if (!probe) {
    probe = new SharedProbe(() => probeAll(context), (report) => (report.healthy ? HEALTH_CACHE_MS : FAILED_HEALTH_CACHE_MS));
    probes.set(context, probe);
  }
  return probe;
}

/**
 * `GET /api/health`: `{"status":"ok"}` or 503 `{"status":"unavailable"}` for anyone; administrators
 * also get each dependency's check. Storage and the HSM are probed at most once per HEALTH_CACHE_MS
 * (once a second while they fail).
 */
export async function health(request: HttpRequest, invocation: InvocationContext): Promise<HttpResponseInit> {
  const headers = { 'cache-control': 'no-store' };
  let context: AppContext;
  try {
    context = appContext();
  } catch (error) {
    // What is wrong is named (settings and policy lines, never values): nobody can fix a silent 503.
    const reason = problemsOf(error);
    invocation.error(`Health check: the app is misconfigured: ${reason.join('; ')}`);
    return { status: 503, headers, jsonBody: { status: 'unavailable', checks: { configuration: { ok: false, error: reason.join('; ') } } } };
  }
  const report = await sharedProbe(context).get();
  const { storage, hsm } = report.checks;
  if (!report.healthy) invocation.warn(`Health check failed (as of ${report.checkedAt}): storage ${storage.ok ? 'ok' : storage.error}, hsm ${hsm.ok ? 'ok' : hsm.error}`);
  const status = report.healthy ? 'ok' : 'unavailable';
  const details = maySeeHealthDetails(context.policy, callerOf(request)) ? { checks: report.checks, checkedAt: report.checkedAt } : {};
  return { status: report.healthy ? 200 : 503, headers, jsonBody: { status, ...details } };
}

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'api/health', handler: endpoint(health) });
