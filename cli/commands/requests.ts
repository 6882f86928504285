import type { Command } from 'commander';
import { parseIsoDuration } from '../../shared/domain/duration';
import type { AccessRequest } from '../../shared/domain/lifecycle';
import { CliError, EXIT } from '../exitCodes';
import { facts, isoDuration, spanInWords, table } from '../format';
import type { Io, Session } from '../context';
import { isGuid, type Directory } from '../names';

type Open = (command: Command) => Session;
type RequestView = AccessRequest & { notes?: string[] };

const ENDED = new Set(['Expired', 'Revoked', 'Denied', 'Cancelled', 'TimedOut', 'Failed']);

/** A key name to its scope; `/keys/x` and `/` as they are. */
export function scopeOf(key: string | undefined, scope: string | undefined): string {
  if (scope) return scope;
  if (!key) throw new CliError('Say which key (--key NAME) or scope (--scope /keys/NAME, /)', EXIT.usage);
  return key.startsWith('/') ? key : `/keys/${key}`;
}

function timeLeft(request: RequestView, now = Date.now()): string {
  if (request.status === 'Active' && request.expiresAt) return `${spanInWords(Date.parse(request.expiresAt) - now)} left`;
  if (request.status === 'Pending') return `${request.decisions.filter((d) => d.decision === 'approve').length}/${request.approvalsRequired} approvals`;
  return '';
}

export const shortId = (id: string): string => id.slice(0, 8);

function row(request: RequestView, names: Directory): unknown[] {
  return [shortId(request.id), request.status, request.role.replace(/^Managed HSM /, ''), request.scope, names.nameOf(request.principalId), names.nameOf(request.requestedBy), timeLeft(request)];
}

export function requestTable(requests: readonly RequestView[], names: Directory): string {
  return table(['ID', 'STATUS', 'ROLE', 'SCOPE', 'FOR', 'BY', 'PROGRESS'], requests.map((r) => row(r, names)));
}

export function requestFacts(request: RequestView, names: Directory): string {
  const decisions = request.decisions.map((d) => `${d.decision} by ${names.nameOf(d.by)}${d.comment ? `: ${d.comment}` : ''}`);
  return facts([
    ['id', request.id], ['status', request.status], ['role', request.role], ['scope', request.scope], ['hsm', request.hsm],
    ['for', `${names.nameOf(request.principalId)} (${request.principalId})`], ['by', names.nameOf(request.requestedBy)],
    ['duration', request.totalDuration ?? request.duration], ['reason', request.justification], ['ticket', request.ticket],
    ['approvals', `${request.decisions.filter((d) => d.decision === 'approve').length} of ${request.approvalsRequired}`], ['decisions', decisions.join('; ')],
    ['granted', request.grantedAt], ['expires', request.expiresAt], ['progress', timeLeft(request)], ['ended', request.endedAt], ['why ended', request.endReason],
    ['notes', request.notes?.join('; ')],
  ]);
}

/** A full request id, or the short one messages and tables show (the first characters of it). */
async function resolveId(session: Session, id: string): Promise<string> {
  if (isGuid(id)) return id.toLowerCase();
  if (!/^[0-9a-f-]{4,36}$/i.test(id)) throw new CliError(`'${id}' is not a request id`, EXIT.usage);
  const matches = (await allRequests(session, {})).filter((r) => r.id.startsWith(id.toLowerCase())).map((r) => r.id);
  if (matches.length === 1) return matches[0];
  throw new CliError(matches.length === 0 ? `No request you can see starts with '${id}'` : `'${id}' starts ${matches.length} requests: give more of the id`, matches.length === 0 ? EXIT.notFound : EXIT.usage);
}

/** Every request the caller can see (all pages). */
export async function allRequests(session: Session, query: { status?: string; mine?: string }): Promise<RequestView[]> {
  const items: RequestView[] = [];
  let continuation: string | undefined;
  do {
    const page = await session.api.call<{ items: RequestView[]; continuation: string | null }>('/api/requests', { query: { ...query, pageSize: '100', continuation } });
    items.push(...page.items);
    continuation = page.continuation ?? undefined;
  } while (continuation);
  return items;
}

async function showOne(session: Session, request: RequestView): Promise<void> {
  const names = await session.names();
  await session.emit(request, () => requestFacts(request, names));
}

async function act(session: Session, id: string, action: string, body?: unknown): Promise<void> {
  const full = await resolveId(session, id);
  await showOne(session, await session.api.call<RequestView>(`/api/requests/${full}/${action}`, { method: 'POST', ...(body !== undefined ? { body } : {}) }));
}

interface WaitOptions {
  timeout?: string;
  interval?: string;
}

/** Polls until Active (exit 0), ended (exit 7) or the timeout (exit 9); each change of status is told on stderr. */
export async function waitFor(session: Session, io: Io, id: string, options: WaitOptions, show = true): Promise<number> {
  const full = await resolveId(session, id);
  const intervalMs = options.interval ? durationMs(options.interval) : 1000;
  const deadline = options.timeout ? Date.now() + durationMs(options.timeout) : Infinity;
  let last = '';
  for (;;) {
    const request = await session.api.call<RequestView>(`/api/requests/${full}`);
    const progress = `${request.status}${request.status === 'Pending' ? ` (${timeLeft(request)})` : ''}`;
    if (progress !== last && !session.json) io.err(`${shortId(full)}: ${progress}\n`);
    last = progress;
    if (request.status === 'Active' || ENDED.has(request.status)) {
      if (show) await showOne(session, request);
      return request.status === 'Active' ? EXIT.ok : EXIT.ended;
    }
    if (Date.now() >= deadline) {
      await showOne(session, request);
      return EXIT.timeout;
    }
    await io.sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

function durationMs(text: string): number {
  const ms = parseIsoDuration(isoDuration(text));
  if (ms === undefined) throw new CliError(`'${text}' is not a duration: write e.g. 30s, 10m, 1h`, EXIT.usage);
  return ms;
}

interface RequestOptions {
  role: string;
  key?: string;
  scope?: string;
  for?: string;
  duration?: string;
  reason?: string;
  ticket?: string;
  hsm?: string;
  idempotencyKey?: string;
  wait?: boolean;
  quiet?: boolean;
}

export function registerRequestCommands(program: Command, open: Open, io: Io, setExit: (code: number) => void): void {
  program.command('request')
    .description('ask for a role on a key for someone, by names (e.g. --role "Crypto User" --key release-signing-key --for app-vm --duration 1h --reason "Release 1.4.0")')
    .requiredOption('--role <role>', 'role name, e.g. "Crypto User" (or its GUID)')
    .option('--key <name>', 'the key, e.g. release-signing-key (scope /keys/NAME)')
    .option('--scope <scope>', 'a scope instead of --key: /, /keys/NAME, or an ARM scope')
    .option('--for <grantee>', 'who gets the role: a name (app-vm), an object id, or "me" (default)')
    .option('--duration <span>', "how long: 30m, 1h, 1h30m, PT1H (default: the rule's)")
    .option('--reason <text>', 'the justification approvers read')
    .option('--ticket <id>', 'change or incident ticket, when the rule needs one')
    .option('--hsm <name>', "the policy's HSM (default: its default HSM)")
    .option('--idempotency-key <key>', 'retrying with the same key never asks twice')
    .option('--wait', 'then wait until it is Active or ends (as `wait`)')
    .option('-q, --quiet', 'print only the request id, for ID=$(hsmgov request ...)')
    .action(async (options: RequestOptions, command: Command) => {
      const session = open(command);
      const grantee = options.for && !['me', 'self'].includes(options.for.toLowerCase()) ? (await session.names()).objectIdOf(options.for) : undefined;
      const body = {
        role: options.role, scope: scopeOf(options.key, options.scope),
        ...(grantee ? { principalId: grantee } : {}), ...(options.duration ? { duration: isoDuration(options.duration) } : {}),
        ...(options.reason ? { justification: options.reason } : {}), ...(options.ticket ? { ticket: options.ticket } : {}), ...(options.hsm ? { hsm: options.hsm } : {}),
      };
      const created = await session.api.call<RequestView>('/api/requests', { method: 'POST', body, ...(options.idempotencyKey ? { headers: { 'idempotency-key': options.idempotencyKey } } : {}) });
      if (options.quiet) io.out(`${created.id}\n`);
      if (options.wait) return setExit(await waitFor(session, io, created.id, {}, !options.quiet));
      if (!options.quiet) await showOne(session, created);
    });

  program.command('list')
    .description('requests you can see: yours, those you may decide, all of them for administrators and auditors')
    .option('--status <status>', 'only this status (Pending, Approved, Active, Expired, Revoked, Denied, Cancelled, TimedOut, Failed)')
    .option('--mine', 'only the requests I asked for')
    .action(async (options: { status?: string; mine?: boolean }, command: Command) => {
      const session = open(command);
      const items = await allRequests(session, { status: options.status, mine: options.mine ? 'true' : undefined });
      const names = await session.names();
      await session.emit({ items }, () => requestTable(items, names));
    });

  program.command('show <id>').description('one request: status, decisions, grant, time left (the short id from `list` will do)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const session = open(command);
      await showOne(session, await session.api.call<RequestView>(`/api/requests/${await resolveId(session, id)}`));
    });

  for (const decision of ['approve', 'deny'] as const) {
    program.command(`${decision} <id>`).description(`${decision} a request waiting for your decision`)
      .option('--comment <text>', 'what the requester reads')
      .action(async (id: string, options: { comment?: string }, command: Command) => act(open(command), id, 'decisions', { decision, ...(options.comment ? { comment: options.comment } : {}) }));
  }

  program.command('extend <id>').description('ask for more time on an active grant (approved like a request)')
    .requiredOption('--duration <span>', 'how much longer: 30m, 1h, PT1H')
    .option('--reason <text>', 'why')
    .action(async (id: string, options: { duration: string; reason?: string }, command: Command) => act(open(command), id, 'extend', { duration: isoDuration(options.duration), ...(options.reason ? { justification: options.reason } : {}) }));

  program.command('revoke <id>').description('end an active grant now')
    .option('--reason <text>', 'why, for the audit trail')
    .action(async (id: string, options: { reason?: string }, command: Command) => act(open(command), id, 'revoke', options.reason ? { reason: options.reason } : undefined));

  program.command('cancel <id>').description('withdraw a request that is not yet granted')
    .action(async (id: string, _options: unknown, command: Command) => act(open(command), id, 'cancel'));

  program.command('wait <id>').description('show progress until the request is Active (exit 0) or ends (exit 7)')
    .option('--timeout <span>', 'give up after this long (exit 9)')
    .option('--interval <span>', 'how often to ask (default 1s)')
    .action(async (id: string, options: WaitOptions, command: Command) => setExit(await waitFor(open(command), io, id, options)));
}
