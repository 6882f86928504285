/**
 * What the security team is told when a reconciliation run finds drift, and where. Pure: the
 * notification service sends it on the channels the policy names for the HSM's administrators.
 */
import type { DriftItem, DriftKind } from './drift';
import { displayName, recipientsOf, type Fact, type NotificationContent, type Recipients } from './notifications';
import type { Policy } from './policy/types';

/** Items named one by one in a drift message; the report behind the link has all of them. */
export const DRIFT_MESSAGE_TOP_ITEMS = 10;

/** What a drift message needs to know about its run. */
export interface DriftRunSummary {
  readonly id: string;
  readonly hsm: string;
  readonly mode: 'plan' | 'apply';
  readonly finishedAt?: string;
  readonly refused?: { readonly code: string };
  readonly actions: ReadonlyArray<{ readonly action: string }>;
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

/** The message for a run that found drift; undefined when it found none (nothing is sent). */
export function driftNotificationContent(policy: Policy, run: DriftRunSummary, items: readonly DriftItem[]): NotificationContent | undefined {
  if (items.length === 0) return undefined;
  const sorted = [...items].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  const counts = KIND_ORDER.map((kind) => [kind, items.filter((i) => i.kind === kind).length] as const).filter(([, n]) => n > 0);
  const top = sorted.slice(0, DRIFT_MESSAGE_TOP_ITEMS);
  const facts: Fact[] = [
    { title: 'HSM', value: run.hsm },
    { title: 'Run', value: `${run.id} (${run.mode})` },
    ...(run.finishedAt ? [{ title: 'Finished', value: run.finishedAt }] : []),
    ...counts.map(([kind, n]) => ({ title: kind, value: String(n) })),
    ...top.map((item, i) => ({ title: `Item ${i + 1}`, value: describeDriftItem(policy, item) })),
    ...(items.length > top.length ? [{ title: 'More', value: `${items.length - top.length} more item(s) in the report` }] : []),
  ];
  const plural = items.length === 1 ? '' : 's';
  return {
    kind: 'drift-found',
    audience: 'security-admins',
    requestId: run.id,
    title: `Drift found on ${run.hsm}: ${items.length} item${plural}`,
    summary: `Reconciliation found ${counts.map(([kind, n]) => `${n} ${kind}`).join(', ')}. ${outcome(run)}`,
    facts,
    riskFlags: items.some((i) => i.kind === 'forbidden-principal') ? ['Forbidden principal holds a role'] : [],
    linkLabel: 'Open report',
    actionRequired: run.mode === 'plan' || run.refused !== undefined,
    footer: `Reconciliation run ${run.id}. The link opens the run's report; you sign in before you can see it.`,
  };
}
