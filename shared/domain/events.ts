/** Lifecycle events published for other systems (Event Grid in a later issue), behind a small interface. */
import type { AccessRequest, HistoryEntry, RequestStatus } from './lifecycle';

export const EVENT_TYPES = {
  Created: 'HsmAccessGovernor.Request.Created',
  Approved: 'HsmAccessGovernor.Request.Approved',
  Denied: 'HsmAccessGovernor.Request.Denied',
  Granted: 'HsmAccessGovernor.Request.Granted',
  Expired: 'HsmAccessGovernor.Request.Expired',
  Revoked: 'HsmAccessGovernor.Request.Revoked',
  Failed: 'HsmAccessGovernor.Request.Failed',
  Cancelled: 'HsmAccessGovernor.Request.Cancelled',
  TimedOut: 'HsmAccessGovernor.Request.TimedOut',
  Extended: 'HsmAccessGovernor.Request.Extended',
} as const;

export type LifecycleEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

export const EVENT_DATA_VERSION = '1.0';

export interface LifecycleEventData {
  readonly requestId: string;
  readonly hsm: string;
  readonly status: RequestStatus;
  readonly role: string;
  readonly roleId: string;
  readonly scope: string;
  readonly principalId: string;
  readonly requestedBy: string;
  readonly actor: string;
  readonly reason: string;
  readonly expiresAt?: string;
}

/** Event Grid schema shaped. */
export interface LifecycleEvent {
  readonly id: string;
  readonly eventType: LifecycleEventType;
  /** e.g. `hsms/contoso-hsm/requests/{id}`. */
  readonly subject: string;
  readonly eventTime: string;
  readonly dataVersion: string;
  readonly data: LifecycleEventData;
}

export interface LifecyclePublisher {
  publish(events: LifecycleEvent[]): Promise<void>;
}

/** The event type a history entry stands for, or undefined (an approval still short of the count, an extension request). */
export function eventTypeFor(entry: HistoryEntry, request: AccessRequest): LifecycleEventType | undefined {
  if (entry.from === null) return EVENT_TYPES.Created;
  if (entry.from === entry.to) {
    return entry.to === 'Active' && entry.reason.startsWith('extended') && request.extension?.status === 'Approved' ? EVENT_TYPES.Extended : undefined;
  }
  switch (entry.to) {
    case 'Approved': return EVENT_TYPES.Approved;
    case 'Denied': return EVENT_TYPES.Denied;
    case 'Active': return EVENT_TYPES.Granted;
    case 'Expired': return EVENT_TYPES.Expired;
    case 'Revoked': return EVENT_TYPES.Revoked;
    case 'Failed': return EVENT_TYPES.Failed;
    case 'Cancelled': return EVENT_TYPES.Cancelled;
    case 'TimedOut': return EVENT_TYPES.TimedOut;
    default: return undefined;
  }
}

/** The event for a history entry of a request (the id is supplied: the domain makes no random ids). */
export function lifecycleEventFor(request: AccessRequest, entry: HistoryEntry, id: string): LifecycleEvent | undefined {
  const eventType = eventTypeFor(entry, request);
  if (!eventType) return undefined;
  return {
    id,
    eventType,
    subject: `hsms/${request.hsm}/requests/${request.id}`,
    eventTime: entry.at,
    dataVersion: EVENT_DATA_VERSION,
    data: {
      requestId: request.id, hsm: request.hsm, status: entry.to, role: request.role, roleId: request.roleId, scope: request.scope,
      principalId: request.principalId, requestedBy: request.requestedBy, actor: entry.by, reason: entry.reason,
      ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
    },
  };
}
