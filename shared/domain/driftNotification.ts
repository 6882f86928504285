/**
 * What the security team is told when a reconciliation run finds drift, and where. Pure: the
 * notification service sends it on the channels the policy names for the HSM's administrators.
 */
import { createHash } from 'node:crypto';
import type { DriftItem, DriftKind } from './drift';
import { displayName, headingAndSubject, recipientsOf, type Fact, type NotificationContent, type Recipients } from './notifications';
import type { Policy } from './policy/types';

/** Items named one by one in a drift message; the report behind the link has all of them. */
export const DRIFT_MESSAGE_TOP_ITEMS = 10;

/** What a drift message needs to know about its run. */
export interface DriftRunSummary {
  readonly id: string;
  readonly hsm: string;
  readonly mode: 'plan' | 'apply';
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly refused?: { readonly code: string };
  readonly actions: ReadonlyArray<{ readonly action: string; readonly scope?: string; readonly assignmentName?: string }>;
}

/** Every kind, in the order the message lists them: what needs a decision first. */
const KIND_ORDER: readonly DriftKind[] = ['forbidden-principal', 'missing', 'unexpected', 'expired-grant', 'orphan', 'unknown-role'];

/** The HSM's security administrators: the principals the policy gives Administrator at `/`. */
export function securityAdminAliases(policy: Policy): string[] {
  const aliases = policy.standing.filter((s) => s.scope === '/' && /administrator/i.test(s.role.name)).map((s) => s.principal);
  return [...new Set(aliases)];
}

/**
 * Where the security team hears of drift: for each security administrator, the channels its
 * `notifications.approvers` entry names, else its principal's email (a group's declared members').
 */
export function securityAdminRecipients(policy: Policy): Recipients {
  return recipientsOf(policy, securityAdminAliases(policy));
}

/** One line per item: `missing: Crypto User for app-vm on /keys/app-signing-key`. */
function describeDriftItem(policy: Policy, item: DriftItem): string {
  return `${item.kind}: ${item.role} for ${displayName(policy, item.principalId)} on ${item.scope}`;
}

function outcome(run: DriftRunSummary): string {
  if (run.mode === 'plan') return 'Nothing was changed (plan).';
  if (run.refused) return `Nothing was changed: the apply was refused (${run.refused.code}).`;
  const count = (what: string): number => run.actions.filter((a) => a.action === what).length;
  return `Apply: ${count('created')} created, ${count('removed')} removed, ${count('skipped')} skipped, ${count('failed')} failed.`;
}

/**
 * The findings a run's drift message is about, as one value: the same set of items (whatever their
 * order, run or wording) has the same fingerprint, and a new, gone or changed item changes it. An
 * apply's repairs are news too: what it did (created, removed, failed) is part of it.
 */
export function driftFingerprint(items: readonly DriftItem[], repairs: DriftRunSummary['actions'] = []): string {
  const identities = [
    ...items.map((i) => ['item', i.plane ?? 'hsm', i.kind, i.scope.toLowerCase(), i.principalId.toLowerCase(), i.roleId.toLowerCase(), i.assignmentName.toLowerCase(), i.action].join('|')),
    ...repairs.map((a) => ['repair', a.action, (a.scope ?? '').toLowerCase(), (a.assignmentName ?? '').toLowerCase()].join('|')),
  ];
  return createHash('sha256').update([...new Set(identities)].sort().join('\n')).digest('hex').slice(0, 32);
}

/** What the security team was last told about one HSM's drift (stored durably, one per HSM). */
export interface DriftAlertState {
  readonly fingerprint: string;
  /** The UTC day (YYYY-MM-DD) of the last message. */
  readonly day: string;
  /** The last message: a new or changed finding, the daily summary of unchanged drift, or none (no drift). */
  readonly kind: 'drift-found' | 'drift-summary' | 'no-drift';
  /** When these findings were first reported. */
  readonly since: string;
  /** The run that reported them, and when it started: an older run closing late changes nothing. */
  readonly runId: string;
  readonly runStartedAt: string;
}

export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/**
 * What one completed run changes: `record` is the new state to store (when it differs), `notice` the
 * message due under the state that holds afterwards. New or changed findings are told at once;
 * unchanged ones at most once per UTC day, as a summary; a run without drift tells nothing.
 */
export function nextDriftAlert(previous: DriftAlertState | undefined, run: DriftRunSummary, items: readonly DriftItem[], now: Date): { record?: DriftAlertState; notice?: DriftAlertState } {
  const startedAt = run.startedAt ?? now.toISOString();
  if (previous && startedAt < previous.runStartedAt) return {};
  const fingerprint = driftFingerprint(items, run.mode === 'apply' ? run.actions : []);
  const day = utcDay(now);
  const base = { fingerprint, day, runId: run.id, runStartedAt: startedAt };
  let record: DriftAlertState | undefined;
  if (!previous || previous.fingerprint !== fingerprint) record = { ...base, kind: items.length > 0 ? 'drift-found' : 'no-drift', since: now.toISOString() };
  else if (previous.day !== day && items.length > 0) record = { ...base, kind: 'drift-summary', since: previous.since };
  const holds = record ?? previous!;
  return { ...(record ? { record } : {}), ...(holds.kind === 'no-drift' ? {} : { notice: holds }) };
}

/** The key of one drift message in the notification marks: sent once, whichever run got to it. */
export const driftNoticeKey = (hsm: string, notice: DriftAlertState): string => `${notice.kind}|${hsm}|${notice.fingerprint}|${notice.day}`;

/**
 * The message for a run that found drift, new or changed (`drift-found`) or unchanged since `since`
 * (`drift-summary`, daily); undefined when it found none (nothing is sent).
 */
export function driftNotificationContent(policy: Policy, run: DriftRunSummary, items: readonly DriftItem[], notice?: Pick<DriftAlertState, 'kind' | 'since' | 'fingerprint' | 'day'>): NotificationContent | undefined {
  if (items.length === 0) return undefined;
  const summary = notice?.kind === 'drift-summary';
  const sorted = [...items].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  const counts = KIND_ORDER.map((kind) => [kind, items.filter((i) => i.kind === kind).length] as const).filter(([, n]) => n > 0);
  const top = sorted.slice(0, DRIFT_MESSAGE_TOP_ITEMS);
  const facts: Fact[] = [
    { title: 'HSM', value: run.hsm },
    { title: 'Run', value: `${run.id} (${run.mode})` },
    ...(run.finishedAt ? [{ title: 'Finished', value: run.finishedAt }] : []),
    ...(notice ? [{ title: 'First reported', value: notice.since }] : []),
    ...counts.map(([kind, n]) => ({ title: kind, value: String(n) })),
    ...top.map((item, i) => ({ title: `Item ${i + 1}`, value: describeDriftItem(policy, item) })),
    ...(items.length > top.length ? [{ title: 'More', value: `${items.length - top.length} more item(s) in the report` }] : []),
  ];
  const plural = items.length === 1 ? '' : 's';
  const found = counts.map(([kind, n]) => `${n} ${kind}`).join(', ');
  const what = summary ? 'Drift unchanged (daily summary)' : 'Drift found';
  return {
    kind: summary ? 'drift-summary' : 'drift-found',
    audience: 'security-admins',
    requestId: run.id,
    ...headingAndSubject(what, `${items.length} item${plural} on ${run.hsm}`),
    thread: { id: `drift.${run.hsm}`, first: false, message: `${notice?.kind ?? 'drift-found'}.${notice?.fingerprint ?? run.id}.${notice?.day ?? ''}` },
    summary: summary
      ? `The same drift as reported at ${notice.since}: ${found}. ${outcome(run)} You are told again when it changes, and otherwise once a day.`
      : `Reconciliation found ${found}. ${outcome(run)}`,
    facts,
    riskFlags: items.some((i) => i.kind === 'forbidden-principal') ? ['Forbidden principal holds a role'] : [],
    linkLabel: 'Open report',
    actionRequired: run.mode === 'plan' || run.refused !== undefined,
    footer: `Reconciliation run ${run.id}. The link opens the run's report; you sign in before you can see it.`,
  };
}
