/**
 * The approval card the Teams bot sends, as one viewer sees it (Universal Actions, Adaptive Cards 1.5).
 * Every text a person wrote is a TextRun inside a RichTextBlock: Teams renders no markdown there (ADR 0010).
 */
import type { Caller } from './eligibility';
import { approvalCount, type AccessRequest } from './lifecycle';
import { displayName, requestLabel } from './notifications';
import { mayDecide } from './permissions';
import type { Policy } from './policy/types';

/** Teams refreshes a card automatically for at most 60 listed users. */
export const MAX_REFRESH_USERS = 60;
/** Teams refuses a bot message larger than about 28 KB; the card stays well under it. */
export const MAX_CARD_BYTES = 28 * 1024;

export const CARD_VERBS = { approve: 'approve', deny: 'deny', refresh: 'refresh' } as const;
export type CardVerb = (typeof CARD_VERBS)[keyof typeof CARD_VERBS];

/** What the card carries in each action's `data`: only the request id; who clicked comes from the activity. */
export interface CardActionData {
  readonly requestId: string;
  readonly comment?: string;
}

type CardElement = Record<string, unknown>;

const plain = (text: string, extra: Record<string, unknown> = {}): CardElement => ({ type: 'RichTextBlock', inlines: [{ type: 'TextRun', text, ...extra }] });

function hhmm(iso: string): string {
  return iso.slice(11, 16);
}

/** The status line everyone sees: who approved, how many of how many, then active until, expired. */
export function statusLine(policy: Policy, request: AccessRequest, now: Date): string {
  const approvals = request.decisions.filter((d) => d.decision === 'approve');
  const latest = request.decisions[request.decisions.length - 1];
  switch (request.status) {
    case 'Pending':
      if (!latest) return `Waiting for approval (0 of ${request.approvalsRequired})`;
      return `Approved by ${displayName(policy, latest.by)} at ${hhmm(latest.at)} (${approvalCount(request.decisions)} of ${request.approvalsRequired})`;
    case 'Approved':
      return `Approved by ${approvals.map((d) => displayName(policy, d.by)).join(', ')} (${approvals.length} of ${request.approvalsRequired}); granting`;
    case 'Active':
      if (request.expiresAt && Date.parse(request.expiresAt) <= now.getTime()) return 'Expired';
      return `Active until ${request.expiresAt ? hhmm(request.expiresAt) : 'unknown'} (approved by ${approvals.map((d) => displayName(policy, d.by)).join(', ')})`;
    case 'Denied': {
      const denial = request.decisions.find((d) => d.decision === 'deny');
      return `Denied by ${denial ? displayName(policy, denial.by) : 'an approver'}${denial ? ` at ${hhmm(denial.at)}` : ''}`;
    }
    case 'TimedOut':
      return 'Not decided in time';
    case 'Expired':
      return `Expired${request.endedAt ? ` at ${hhmm(request.endedAt)}` : ''}`;
    case 'Revoked': {
      const revoked = [...request.history].reverse().find((entry) => entry.to === 'Revoked');
      return `Revoked${revoked ? ` by ${displayName(policy, revoked.by)} at ${hhmm(revoked.at)}` : ''}`;
    }
    case 'Cancelled':
      return `Cancelled by ${displayName(policy, request.requestedBy)}`;
    default:
      return request.status;
  }
}

export interface CardOptions {
  /** Users whose cards Teams refreshes by itself (the approvers, requester and grantee); capped at 60. */
  readonly refreshUserIds: readonly string[];
  /** A line for this viewer only, e.g. why their click was refused. */
  readonly notice?: string;
}

/** The card for `viewer` (undefined: the card as posted, before Teams asks for anyone's own). */
export function approvalCard(policy: Policy, request: AccessRequest, viewer: Caller | undefined, now: Date, options: CardOptions): Record<string, unknown> {
  const data: CardActionData = { requestId: request.id };
  const body: CardElement[] = [
    { type: 'TextBlock', text: 'Access request', weight: 'Bolder', size: 'Medium', wrap: true },
    plain(requestLabel(policy, request)),
    plain(`Requested by ${displayName(policy, request.requestedBy)} for ${displayName(policy, request.principalId)}, ${request.duration}`),
    plain(`Justification: ${request.justification}`),
    ...(request.ticket ? [plain(`Ticket: ${request.ticket}`)] : []),
    plain(statusLine(policy, request, now), { weight: 'Bolder' }),
    ...(options.notice ? [plain(options.notice, { color: 'Attention' })] : []),
  ];
  // Buttons only for who may decide now, by every rule the API applies (a pending extension included).
  const buttons = viewer !== undefined && mayDecide(policy, viewer, request);
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: '1.5',
    refresh: { action: { type: 'Action.Execute', verb: CARD_VERBS.refresh, data }, userIds: options.refreshUserIds.slice(0, MAX_REFRESH_USERS) },
    body: buttons ? [...body, { type: 'Input.Text', id: 'comment', placeholder: 'Comment (optional)', isMultiline: true, maxLength: 500 }] : body,
    ...(buttons
      ? {
          actions: [
            { type: 'Action.Execute', title: 'Approve', verb: CARD_VERBS.approve, data, style: 'positive' },
            { type: 'Action.Execute', title: 'Deny', verb: CARD_VERBS.deny, data, style: 'destructive' },
          ],
        }
      : {}),
  };
}
