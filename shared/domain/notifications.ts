/**
 * What to tell whom when a request changes, and when the timer's reminders and expiry warnings are
 * due. Pure: the notification service sends what this decides, on the channels the policy names.
 */
import { approvalsNeeded } from './approval';
import { durationText, grantTimeline, type GrantTimeline } from './grantTimeline';
import type { AccessRequest, HistoryEntry, RequestStatus } from './lifecycle';
import { SYSTEM_ACTOR } from './lifecycle';
import { principalByObjectId } from './policy/parse';
import type { Policy, PrincipalDefinition } from './policy/types';

const DEFAULT_EXPIRY_WARNING_MS = 15 * 60_000;
const DEFAULT_LONG_DURATION_MS = 4 * 3_600_000;

export type NotificationAudience = 'approvers' | 'requester';
/** Besides the requests' audiences: the HSM's administrators, told about drift. */
export type MessageAudience = NotificationAudience | 'security-admins';
/** Besides the requests' kinds: a reconciliation run found new or changed drift, or the daily summary of unchanged drift. */
export type MessageKind = NotificationKind | 'drift-found' | 'drift-summary' | 'evidence-alert';

export type NotificationKind =
  /** Approvers: a new request waits for them. */
  | 'approval-needed'
  /** Approvers: an approval was recorded and more are needed. */
  | 'approval-progress'
  /** Approvers: a running grant asks for more time. */
  | 'extension-needed'
  /** Approvers: the request has waited half its pending lifetime. */
  | 'reminder'
  /** Approvers: the request was decided (or closed) by someone else; nothing left to do. */
  | 'decided'
  | 'approved'
  | 'denied'
  | 'granted'
  | 'expiring'
  | 'expired'
  | 'revoked'
  | 'failed'
  | 'timed-out'
  | 'extended'
  | 'extension-denied';

export interface NotificationIntent {
  readonly kind: NotificationKind;
  readonly audience: NotificationAudience;
  readonly requestId: string;
  /** The object id (or 'system') whose action caused it. */
  readonly actor: string;
  /** Sent once per key (marks): timer notifications, and the approval request the timer catches up on. */
  readonly key?: string;
}

export interface Fact {
  readonly title: string;
  readonly value: string;
}

/**
 * Which conversation a message belongs to, for mail clients: every message about one request (or one
 * HSM's drift) refers to the thread's first message, whose id is derived from `id` alone.
 */
export interface MessageThread {
  /** The thread, e.g. `request.{id}`; the first message's Message-ID is derived from it. */
  readonly id: string;
  /** This message is the thread's first (it carries the derived Message-ID itself). */
  readonly first: boolean;
  /** This message within the thread, the same for every try and every recipient of it. */
  readonly message: string;
}

/** Everything a channel needs to render one notification (the link is added by the sender). */
export interface NotificationContent {
  readonly kind: MessageKind;
  readonly audience: MessageAudience;
  /** The request; for `drift-found`, the reconciliation run. */
  readonly requestId: string;
  /** The request's status; absent for `drift-found`. */
  readonly status?: RequestStatus;
  /** The heading: what happened, then what it is about (role, scope, grantee and a short request id). */
  readonly title: string;
  /** The email subject: `[HSM access] {what it is about}: {what happened}`. */
  readonly subject: string;
  readonly thread: MessageThread;
  readonly summary: string;
  readonly facts: readonly Fact[];
  readonly riskFlags: readonly string[];
  readonly approvalsNeeded?: number;
  /** 'Review' when the reader is asked to act, 'Open request' otherwise. */
  readonly linkLabel: string;
  /** Whether the reader is asked to decide. */
  readonly actionRequired: boolean;
  /** The closing line; by default it names the request and says its link needs a sign-in. */
  readonly footer?: string;
}

/** Where one audience of one request is told: Teams webhooks by app-setting name, and email addresses. */
export interface Recipients {
  readonly teams: readonly string[];
  readonly email: readonly string[];
}

const REQUESTER_KINDS: Partial<Record<RequestStatus, NotificationKind>> = {
  Denied: 'denied',
  Active: 'granted',
  Expired: 'expired',
  Revoked: 'revoked',
  Failed: 'failed',
  TimedOut: 'timed-out',
};

function intentsForEntry(entry: HistoryEntry, request: AccessRequest): Array<Omit<NotificationIntent, 'requestId'>> {
  const actor = entry.by;
  if (entry.from === null) return entry.to === 'Pending' && request.status === 'Pending' ? [{ kind: 'approval-needed', audience: 'approvers', actor, key: approvalNeededKey(request.id) }] : [];
  if (entry.from === 'Pending' && entry.to === 'Pending') return [{ kind: 'approval-progress', audience: 'approvers', actor }];
  if (entry.from === 'Active' && entry.to === 'Active') {
    if (/^extension by .* requested$/.test(entry.reason)) return [{ kind: 'extension-needed', audience: 'approvers', actor }];
    if (entry.reason.startsWith('extension approval recorded')) return [{ kind: 'approval-progress', audience: 'approvers', actor }];
    if (entry.reason === 'extension denied') return [{ kind: 'extension-denied', audience: 'requester', actor }, { kind: 'decided', audience: 'approvers', actor }];
    if (entry.reason.startsWith('extended by')) {
      const approved = entry.reason.includes('(no approval needed)') ? [] : [{ kind: 'decided' as const, audience: 'approvers' as const, actor }];
      return [{ kind: 'extended', audience: 'requester', actor }, ...approved];
    }
    return [];
  }
  const intents: Array<Omit<NotificationIntent, 'requestId'>> = [];
  // The approvers' earlier card is followed up once the request leaves Pending, whoever closed it.
  const autoApproved = entry.to === 'Approved' && actor === SYSTEM_ACTOR;
  if (entry.from === 'Pending' && !autoApproved) intents.push({ kind: 'decided', audience: 'approvers', actor });
  if (entry.from === 'Pending' && entry.to === 'Approved') {
    // Approved by the rule itself (no approval needed): the requester hears of the grant instead.
    if (actor !== SYSTEM_ACTOR) intents.push({ kind: 'approved', audience: 'requester', actor });
    return intents;
  }
  const kind = REQUESTER_KINDS[entry.to];
  // A requester who cancels needs no message about it.
  if (kind) intents.push({ kind, audience: 'requester', actor });
  return intents;
}

/** What to send for one saved change from `before` (undefined for a new request) to `after`. */
export function notificationsForTransition(before: AccessRequest | undefined, after: AccessRequest): NotificationIntent[] {
  const fresh = after.history.slice(before?.history.length ?? 0);
  const seen = new Set<string>();
  const intents: NotificationIntent[] = [];
  for (const entry of fresh) {
    for (const intent of intentsForEntry(entry, after)) {
      const id = `${intent.audience}|${intent.kind}`;
      if (seen.has(id)) continue;
      seen.add(id);
      intents.push({ ...intent, requestId: after.id });
    }
  }
  // A follow-up to the approvers supersedes a progress message from the same save.
  return intents.some((i) => i.kind === 'decided') ? intents.filter((i) => i.kind !== 'approval-progress') : intents;
}

function notificationSettings(policy: Policy): { expiryWarningMs: number; longDurationMs: number; reminders: boolean } {
  return {
    expiryWarningMs: policy.notifications?.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS,
    longDurationMs: policy.notifications?.longDurationMs ?? DEFAULT_LONG_DURATION_MS,
    reminders: policy.notifications?.reminders ?? true,
  };
}

/** How long after a request is made the timer checks that its approvers were asked... */
export const APPROVAL_CATCH_UP_MS = 2 * 60_000;
/**
 * ...and until when: long enough to take over a claim its dying sender left (five minutes), short
 * enough that open requests don't cost a storage read each every minute of their life.
 */
export const APPROVAL_CATCH_UP_UNTIL_MS = 10 * 60_000;

export const approvalNeededKey = (requestId: string): string => `approval-needed|${requestId}`;

/**
 * The timer's notifications that are due at `now`: the approval request of a Pending request between
 * APPROVAL_CATCH_UP_MS and APPROVAL_CATCH_UP_UNTIL_MS old (it goes out only if the process that made the request died before sending it), one reminder to the approvers once a Pending
 * request has waited half its lifetime, and one warning to the requester `expiryWarning` before an
 * Active grant ends (again after an extension moves the end). Keys make each one go out once.
 */
export function dueNotifications(policy: Policy, requests: readonly AccessRequest[], now: Date): NotificationIntent[] {
  const { expiryWarningMs, reminders } = notificationSettings(policy);
  const at = now.getTime();
  const due: NotificationIntent[] = [];
  for (const request of requests) {
    const created = Date.parse(request.createdAt);
    const until = Date.parse(request.pendingUntil);
    if (request.status === 'Pending' && at >= created + APPROVAL_CATCH_UP_MS && at < Math.min(until, created + APPROVAL_CATCH_UP_UNTIL_MS)) {
      // Sent when the request was made, unless that process died first: its key finds out which.
      due.push({ kind: 'approval-needed', audience: 'approvers', requestId: request.id, actor: request.requestedBy, key: approvalNeededKey(request.id) });
    }
    if (request.status === 'Pending' && reminders) {
      if (at >= created + (until - created) / 2 && at < until) {
        due.push({ kind: 'reminder', audience: 'approvers', requestId: request.id, actor: SYSTEM_ACTOR, key: `reminder|${request.id}` });
      }
    }
    if (request.status === 'Active' && request.expiresAt && request.grantedAt) {
      const ends = Date.parse(request.expiresAt);
      const lasts = ends - Date.parse(request.grantedAt);
      // A grant no longer than the warning would be warned about at once: its "granted" message says when it ends.
      if (lasts > expiryWarningMs && at >= ends - expiryWarningMs && at < ends) {
        due.push({ kind: 'expiring', audience: 'requester', requestId: request.id, actor: SYSTEM_ACTOR, key: `expiring|${request.id}|${request.expiresAt}` });
      }
    }
  }
  return due;
}

/** A display name for an object id: the policy's display name or alias, else the id itself. */
export function displayName(policy: Policy, objectId: string): string {
  if (objectId === SYSTEM_ACTOR) return 'the service';
  const principal = principalByObjectId(policy, objectId);
  return principal ? (principal.displayName ?? principal.alias) : objectId;
}

/** Why approvers should look twice: a privileged role, an HSM-wide scope, a long grant. */
export function riskFlags(policy: Policy, request: AccessRequest): string[] {
  const { longDurationMs } = notificationSettings(policy);
  const flags: string[] = [];
  if (policy.defaults.privilegedRoleIds.includes(request.roleId.toLowerCase())) flags.push('Privileged role');
  if (request.scope === '/' || request.scope === '/keys') flags.push('HSM-wide scope');
  const timeline = grantTimeline(request);
  const longest = Math.max(request.durationMs, timeline.grantedMs ?? 0) + (request.extension?.status === 'Pending' ? request.extension.durationMs : 0);
  if (longest >= longDurationMs) flags.push(`Long duration (${durationText(request, timeline)})`);
  return flags;
}

/** A principal's own address, or for a group its declared members' (people only, not nested groups), leaving out `exclude`. */
function addresses(principal: PrincipalDefinition | undefined, policy: Policy, exclude: ReadonlySet<string>): string[] {
  if (!principal) return [];
  const people = principal.type === 'Group' ? principal.members.map((alias) => policy.principals[alias]).filter((m) => m?.type !== 'Group') : [principal];
  return people.flatMap((p) => (p?.email && !exclude.has(p.objectId) ? [p.email] : []));
}

/**
 * Where the principals named by `aliases` are told: for each, the channels its
 * `notifications.approvers` entry names, else its principal's email (a group's declared members'),
 * leaving out the object ids in `exclude`.
 */
export function recipientsOf(policy: Policy, aliases: readonly string[], exclude: ReadonlySet<string> = new Set()): Recipients {
  const teams = new Set<string>();
  const email = new Set<string>();
  for (const alias of aliases) {
    const configured = policy.notifications?.approvers[alias];
    if (configured) {
      if (configured.teams) teams.add(configured.teams);
      for (const address of configured.email) email.add(address);
    } else {
      for (const address of addresses(policy.principals[alias], policy, exclude)) email.add(address);
    }
  }
  return { teams: [...teams], email: [...email] };
}

/**
 * Where an audience is told. Approvers: the approver aliases of the request's rule (recipientsOf),
 * leaving out the requester and the grantee. Requester: the email of the requester's principal.
 */
export function recipientsFor(policy: Policy, request: AccessRequest, audience: NotificationAudience): Recipients {
  if (audience === 'requester') {
    const requester = principalByObjectId(policy, request.requestedBy);
    return { teams: [], email: requester?.email && requester.type !== 'Group' ? [requester.email] : [] };
  }
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  return recipientsOf(policy, rule?.approval.approvers ?? [], new Set([request.requestedBy.toLowerCase(), request.principalId.toLowerCase()]));
}

/** The role as a subject names it: a data-plane built-in without its "Managed HSM " prefix. */
function shortRole(request: AccessRequest): string {
  return request.plane ? request.role : request.role.replace(/^Managed HSM /, '');
}

/** What a request is about, in every heading and subject: `Crypto User on /keys/k for app-vm (#3f2a91c0)`. */
export function requestLabel(policy: Policy, request: AccessRequest): string {
  const grantee = principalByObjectId(policy, request.principalId);
  return `${shortRole(request)} on ${request.scope} for ${grantee?.alias ?? request.principalId} (#${request.id.slice(0, 8)})`;
}

/** The heading and the email subject of a message about `about`, saying `what` happened. */
export function headingAndSubject(what: string, about: string): { title: string; subject: string } {
  return { title: `${what}: ${about}`, subject: `[HSM access] ${about}: ${what.toLowerCase()}` };
}

function lastDecision(request: AccessRequest): { by: string; decision: string; comment?: string } | undefined {
  const decisions = request.extension?.decisions.length ? request.extension.decisions : request.decisions;
  return decisions[decisions.length - 1];
}

const DECIDED_TEXT: Partial<Record<RequestStatus, string>> = {
  Approved: 'approved',
  Denied: 'denied',
  Cancelled: 'cancelled',
  TimedOut: 'timed out',
};

const WHAT_HAPPENED: Record<NotificationKind, string> = {
  'approval-needed': 'Approval needed',
  'approval-progress': 'Approval recorded',
  'extension-needed': 'Extension needed',
  reminder: 'Reminder: approval needed',
  decided: 'No action needed',
  approved: 'Approved',
  denied: 'Denied',
  granted: 'Granted',
  expiring: 'Ending soon',
  expired: 'Ended',
  revoked: 'Revoked',
  failed: 'Failed',
  'timed-out': 'Timed out',
  extended: 'Extended',
  'extension-denied': 'Extension denied',
};

function failureSummary(request: AccessRequest, timeline: GrantTimeline): string {
  const reason = request.endReason ?? 'The request failed';
  if (!timeline.grantedAt) return `The grant could not be made (${reason}). Nobody was given access.`;
  if (timeline.endedAt) return `The grant ended at ${timeline.endedAt}, but its role assignment could not be removed (${reason}): access may still be in place. The security team has been alerted in the log.`;
  return `${reason}. The security team has been alerted in the log.`;
}

function summaryOf(policy: Policy, request: AccessRequest, intent: NotificationIntent, timeline: GrantTimeline): string {
  const target = `${request.role} on ${request.scope}`;
  const requester = displayName(policy, request.requestedBy);
  const actor = displayName(policy, intent.actor);
  const needed = approvalsNeeded(policy, request);
  const more = `${needed} more approval${needed === 1 ? '' : 's'} needed`;
  switch (intent.kind) {
    case 'approval-needed':
      return `${requester} asks for ${target} for ${displayName(policy, request.principalId)}, for ${request.duration}. ${more}.`;
    case 'approval-progress':
      return `${actor} approved. ${more}.`;
    case 'extension-needed':
      return `${actor} asks to extend the grant by ${request.extension?.duration ?? ''}, to ${durationText(request, timeline)} in all. ${more}.`;
    case 'reminder':
      return `${requester}'s request has waited half its time and ends unanswered at ${request.pendingUntil}. ${more}.`;
    case 'decided': {
      const by = intent.actor === SYSTEM_ACTOR ? '' : ` by ${actor}`;
      const what = DECIDED_TEXT[request.status] ?? (request.extension ? `decided (extension ${request.extension.status.toLowerCase()})` : request.status.toLowerCase());
      return `Already ${what}${by}; the request is ${request.status}.`;
    }
    case 'approved':
      return `${actor} approved your request. The grant is being put in place.`;
    case 'denied':
      return `${actor} denied your request.`;
    case 'granted':
      return `The grant is in place until ${timeline.expiresAt ?? ''}.`;
    case 'expiring':
      return `The grant ends at ${timeline.expiresAt ?? ''}. Ask for an extension now if you need more time.`;
    case 'expired':
      return `The grant expired at ${timeline.endedAt ?? request.endedAt ?? ''} and the role assignment was removed.`;
    case 'revoked':
      return `${actor} revoked the grant at ${timeline.endedAt ?? request.endedAt ?? ''}: ${request.endReason ?? ''}.`;
    case 'failed':
      return failureSummary(request, timeline);
    case 'timed-out':
      return 'Nobody decided your request in time.';
    case 'extended':
      return `The grant now ends at ${timeline.expiresAt ?? ''} (${durationText(request, timeline)}).`;
    case 'extension-denied':
      return `${actor} denied the extension; the grant still ends at ${timeline.expiresAt ?? ''}.`;
  }
}

/** When the grant started and ended (or ends), as the record says, never as it was asked for. */
function timeFacts(request: AccessRequest, timeline: GrantTimeline): Fact[] {
  const facts: Fact[] = [];
  if (timeline.grantedAt) facts.push({ title: 'Granted', value: timeline.grantedAt });
  else if (timeline.failedAt) facts.push({ title: 'Granted', value: `never (the grant failed at ${timeline.failedAt})` });
  if (timeline.endedAt) facts.push({ title: 'Ended', value: `${timeline.endedAt} (${timeline.endedAs === 'Revoked' ? 'revoked' : 'expired'})` });
  else if (timeline.expiresAt && (request.status === 'Active' || request.status === 'Approved')) facts.push({ title: 'Ends', value: timeline.expiresAt });
  if (timeline.grantedAt && timeline.failedAt) facts.push({ title: 'Failed', value: `${timeline.failedAt}${timeline.endedAt ? ' (the role assignment could not be removed)' : ''}` });
  return facts;
}

/** The first message about a request opens its thread: the approvers' request, or the requester's first news when no approval is needed. */
function threadOf(request: AccessRequest, kind: NotificationKind): MessageThread {
  const first = request.approvalsRequired > 0 ? kind === 'approval-needed' : kind === 'granted' || (kind === 'failed' && !request.grantedAt);
  return { id: `request.${request.id}`, first, message: `${kind}.${request.history.length}` };
}

/** The facts, risk flags and wording of one notification about `request`. */
export function notificationContent(policy: Policy, request: AccessRequest, intent: NotificationIntent): NotificationContent {
  const timeline = grantTimeline(request);
  const summary = summaryOf(policy, request, intent, timeline);
  const needed = approvalsNeeded(policy, request);
  const required = request.extension?.status === 'Pending' ? request.extension.approvalsRequired : request.approvalsRequired;
  const decision = lastDecision(request);
  const facts: Fact[] = [
    { title: 'Requester', value: displayName(policy, request.requestedBy) },
    { title: 'Grantee', value: displayName(policy, request.principalId) },
    { title: 'Role', value: request.role },
    { title: 'Scope', value: request.scope },
    { title: 'HSM', value: request.hsm },
    { title: 'Duration', value: durationText(request, timeline) },
    { title: 'Justification', value: request.justification || '(none)' },
    { title: 'Ticket', value: request.ticket ?? '(none)' },
    { title: 'Approvals still needed', value: `${needed} of ${required}` },
    { title: 'Status', value: request.status },
    ...timeFacts(request, timeline),
    ...(decision ? [{ title: 'Last decision', value: `${decision.decision} by ${displayName(policy, decision.by)}${decision.comment ? `: ${decision.comment}` : ''}` }] : []),
  ];
  const actionRequired = ['approval-needed', 'approval-progress', 'extension-needed', 'reminder'].includes(intent.kind);
  return {
    kind: intent.kind,
    audience: intent.audience,
    requestId: request.id,
    status: request.status,
    ...headingAndSubject(WHAT_HAPPENED[intent.kind], requestLabel(policy, request)),
    thread: threadOf(request, intent.kind),
    summary,
    facts,
    riskFlags: riskFlags(policy, request),
    approvalsNeeded: needed,
    linkLabel: actionRequired ? 'Review' : 'Open request',
    actionRequired,
  };
}

/** For the record of a delivery: an email address as `d***@contoso.example`. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at <= 0 ? '***' : `${address[0]}***${address.slice(at)}`;
}
