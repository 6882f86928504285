import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext, type AppContext } from '../shared/app';
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

export async function health(_request: HttpRequest, invocation: InvocationContext): Promise<HttpResponseInit> {
  const headers = { 'cache-control': 'no-store' };
  let context: AppContext;
  try {
    context = appContext();
  } catch (error) {
    const reason = problemsOf(error);
    invocation.error(`Health check: the app is misconfigured: ${reason.join('; ')}`);
    return { status: 503, headers, jsonBody: { status: 'unhealthy', checks: { configuration: { ok: false, error: reason.join('; ') } } } };
  }
  const [storage, hsm] = await Promise.all([
    timedCheck((signal) => context.pingStorage(signal)),
    timedCheck((signal) => probeHsm(context, signal)),
  ]);
  const healthy = storage.ok && hsm.ok;
  if (!healthy) invocation.warn(`Health check failed: storage ${storage.ok ? 'ok' : storage.error}, hsm ${hsm.ok ? 'ok' : hsm.error}`);
  return { status: healthy ? 200 : 503, headers, jsonBody: { status: healthy ? 'healthy' : 'unhealthy', checks: { storage, hsm } } };
}

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
