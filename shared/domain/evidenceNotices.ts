/**
 * What the service says about the HSM's audit log: the CloudEvents, audit records and messages for
 * a role assignment changed outside the service, a key used outside any grant, and a principal that
 * keeps being refused on a key. Pure: ids come from what they stand for (the log line, or the
 * principal and key), so a redo builds the same event.
 */
import { createHash } from 'node:crypto';
import { EVIDENCE_EVENT_TYPES, hsmSubject, type EvidenceEventType, type OutboundEvent } from './events';
import { displayName, headingAndSubject, type NotificationContent } from './notifications';
import type { Policy } from './policy/types';

/** What one audit-log line said, as the evidence reactions need it. */
export interface EvidenceLine {
  readonly blob: string;
  readonly offset: number;
  readonly time: string;
  /** Who made the call (object id). */
  readonly principalId: string;
  readonly operation: string;
  readonly status: number;
  readonly correlationId: string;
  readonly key?: string;
  readonly scope?: string;
}

/** The audit trail's `requestId` for evidence records: they belong to no request. */
export const EVIDENCE_TRAIL_ID = 'hsm-audit-log';

/** `{hash of the blob}.{offset}`: one log line, one event of each type. */
export function evidenceLineId(line: Pick<EvidenceLine, 'blob' | 'offset'>): string {
  return `${createHash('sha256').update(line.blob).digest('hex').slice(0, 32)}.${line.offset}`;
}

const short = (hex: string): string => createHash('sha256').update(hex).digest('hex').slice(0, 32);

function cloudEvent(source: string, type: EvidenceEventType, id: string, hsm: string, time: string, data: Record<string, unknown>): OutboundEvent {
  return { specversion: '1.0', id, source, type, subject: hsmSubject(hsm), time, datacontenttype: 'application/json', data };
}

function lineData(hsm: string, line: EvidenceLine): Record<string, unknown> {
  return {
    hsm, principalId: line.principalId, operation: line.operation, status: line.status, at: line.time, correlationId: line.correlationId,
    logBlob: line.blob, logOffset: line.offset, ...(line.key ? { key: line.key } : {}), ...(line.scope ? { scope: line.scope } : {}),
  };
}

export function assignmentChangedEvent(hsm: string, line: EvidenceLine, source: string): OutboundEvent {
  return cloudEvent(source, EVIDENCE_EVENT_TYPES.AssignmentChanged, `${evidenceLineId(line)}.assignment-changed`, hsm, line.time, lineData(hsm, line));
}

export function useOutsideGrantEvent(hsm: string, line: EvidenceLine, source: string): OutboundEvent {
  return cloudEvent(source, EVIDENCE_EVENT_TYPES.UseOutsideGrant, `${evidenceLineId(line)}.outside-any-grant`, hsm, line.time, lineData(hsm, line));
}

export interface RefusalStreak {
  readonly hsm: string;
  readonly principalId: string;
  readonly key: string;
  readonly count: number;
  readonly at: string;
}

export function refusedAttemptsEvent(streak: RefusalStreak, source: string): OutboundEvent {
  return cloudEvent(source, EVIDENCE_EVENT_TYPES.RefusedAttempts, `${short(`${streak.hsm}\n${streak.principalId}\n${streak.key}`)}.refused-attempts`, streak.hsm, streak.at, {
    hsm: streak.hsm, principalId: streak.principalId, key: streak.key, count: streak.count,
  });
}

function notice(what: string, about: string, threadId: string, message: string, summary: string, facts: NotificationContent['facts'], riskFlags: string[], linkLabel: string, footer: string): NotificationContent {
  return {
    kind: 'evidence-alert', audience: 'security-admins', requestId: EVIDENCE_TRAIL_ID, ...headingAndSubject(what, about),
    thread: { id: threadId, first: false, message }, summary, facts, riskFlags, linkLabel, actionRequired: true, footer,
  };
}

const lineFacts = (policy: Policy, hsm: string, line: EvidenceLine): NotificationContent['facts'] => [
  { title: 'HSM', value: hsm },
  { title: 'By', value: displayName(policy, line.principalId) },
  { title: 'Operation', value: `${line.operation} (HTTP ${line.status})` },
  ...(line.scope ? [{ title: 'Scope', value: line.scope }] : []),
  { title: 'At', value: line.time },
  { title: 'Correlation id', value: line.correlationId },
];

export function assignmentChangeNotice(policy: Policy, hsm: string, line: EvidenceLine, mode: 'plan' | 'apply'): NotificationContent {
  return notice('Role assignment changed outside the service', `${line.scope ?? '/'} on ${hsm}`, `drift.${hsm}`, `evidence.${evidenceLineId(line)}`,
    `The HSM's audit log shows ${displayName(policy, line.principalId)} calling ${line.operation} at ${line.scope ?? '/'} directly on the HSM, not through the service. The HSM was reconciled at once (${mode === 'apply' ? 'enforce: drift is removed' : 'plan: nothing was changed'}); the drift message and the report tell what it found.`,
    lineFacts(policy, hsm, line), ['Change made outside the service'], 'Open report', 'From the HSM\'s own audit log. The link opens the reconciliation report; you sign in before you can see it.');
}

export function useOutsideGrantNotice(policy: Policy, hsm: string, line: EvidenceLine): NotificationContent {
  return notice('Key used outside any grant', `${line.key ?? '?'} by ${displayName(policy, line.principalId)}`, `evidence.${hsm}`, `outside.${evidenceLineId(line)}`,
    `The HSM let ${displayName(policy, line.principalId)} call ${line.operation} on ${line.key ?? '?'} at ${line.time}, while the service's records give them neither standing access nor a grant at that moment. Someone gave this access outside the service: find out who and remove it.`,
    lineFacts(policy, hsm, line), ['Use outside any grant: the strongest drift signal'], 'Open report', 'From the HSM\'s own audit log.');
}

export function refusedAttemptsNotice(policy: Policy, streak: RefusalStreak): NotificationContent {
  const who = displayName(policy, streak.principalId);
  return notice('Access refused again and again', `${streak.key} for ${who}`, `evidence.${streak.hsm}`, `refusals.${short(`${streak.principalId}\n${streak.key}`)}`,
    `The HSM refused ${who} ${streak.count} times on ${streak.key} (403). They may need access they do not have, or someone is trying keys. The link asks for access for them; you are told once per principal and key.`,
    [{ title: 'HSM', value: streak.hsm }, { title: 'Principal', value: who }, { title: 'Key', value: streak.key }, { title: 'Refused', value: String(streak.count) }, { title: 'Last', value: streak.at }],
    [], 'Ask for access', 'From the HSM\'s own audit log. The link opens the request form; you sign in before you can use it.');
}

/** The request form for a principal and key (its fields are named as `POST /api/requests` names them). */
export function askForAccessLink(publicBaseUrl: string, principalId: string, key: string): string {
  const query = new URLSearchParams({ principalId, scope: `/keys/${key}` });
  return `${publicBaseUrl.replace(/\/+$/, '')}/ask?${query.toString()}`;
}
