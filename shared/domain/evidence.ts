/**
 * What the HSM's own audit log says about our grants: which grant a key operation was made under,
 * refused attempts, role-assignment changes made outside the service, and use outside any grant.
 */
import { formatIsoDuration } from './duration';
import type { AccessRequest } from './lifecycle';
import type { StandingAssignment } from './policy/types';
import type { HsmAuditRecord } from './hsmAuditLog';

/** A refusal count from which a principal is "persistent" on a key: surfaced to the security team once. */
export const PERSISTENT_REFUSALS = 3;

/** Whether access at `scope` reaches key `keyName` (local RBAC: `/`, `/keys` or `/keys/{name}`). */
export function scopeReachesKey(scope: string, keyName: string): boolean {
  const normalized = scope.toLowerCase().replace(/\/+$/, '') || '/';
  return normalized === '/' || normalized === '/keys' || normalized === `/keys/${keyName.toLowerCase()}`;
}

/** A grant was in force at `time`: from its grant to its end (or expiry when it has not ended). */
export function grantInForceAt(grant: AccessRequest, time: string): boolean {
  if (!grant.grantedAt || grant.plane === 'azure-rbac') return false;
  const at = Date.parse(time);
  const until = grant.endedAt ?? grant.expiresAt;
  return Date.parse(grant.grantedAt) <= at && (until === undefined || at <= Date.parse(until));
}

export type UseAttribution =
  | { readonly basis: 'grant'; readonly grantIds: readonly string[] }
  | { readonly basis: 'standing' }
  /** The strongest drift signal: the HSM let someone use a key that neither a grant nor the policy gave them. */
  | { readonly basis: 'outside-any-grant' };

/** Under what a successful key operation was made. */
export function attributeUse(record: HsmAuditRecord, grants: readonly AccessRequest[], standing: readonly StandingAssignment[], hsm: string): UseAttribution {
  const principal = record.principalId ?? '';
  const key = record.keyName ?? '';
  const grantIds = grants
    .filter((g) => g.principalId.toLowerCase() === principal && g.hsm.toLowerCase() === hsm.toLowerCase() && scopeReachesKey(g.scope, key) && grantInForceAt(g, record.time))
    .map((g) => g.id);
  if (grantIds.length > 0) return { basis: 'grant', grantIds };
  const standingAccess = standing.some((s) => s.principalId === principal && s.hsm.toLowerCase() === hsm.toLowerCase() && scopeReachesKey(s.scope, key));
  return standingAccess ? { basis: 'standing' } : { basis: 'outside-any-grant' };
}

export type EvidenceFinding =
  | { readonly type: 'use'; readonly record: HsmAuditRecord; readonly attribution: UseAttribution }
  | { readonly type: 'refused'; readonly record: HsmAuditRecord }
  | { readonly type: 'assignment-change'; readonly record: HsmAuditRecord }
  | { readonly type: 'ignored' };

const succeeded = (record: HsmAuditRecord): boolean => record.httpStatusCode >= 200 && record.httpStatusCode < 300;

/**
 * What one record means. Role-assignment changes by the service itself are its own work (already
 * in the trail); changes by anyone else are drift seen as it happens.
 */
export function findingFor(record: HsmAuditRecord, context: { grants: readonly AccessRequest[]; standing: readonly StandingAssignment[]; hsm: string; serviceObjectId: string }): EvidenceFinding {
  if (record.kind === 'key-operation' && record.principalId) {
    if (record.httpStatusCode === 403) return { type: 'refused', record };
    if (succeeded(record)) return { type: 'use', record, attribution: attributeUse(record, context.grants, context.standing, context.hsm) };
    return { type: 'ignored' };
  }
  if ((record.kind === 'role-assignment-write' || record.kind === 'role-assignment-delete') && succeeded(record)) {
    if (record.principalId === context.serviceObjectId.toLowerCase()) return { type: 'ignored' };
    return { type: 'assignment-change', record };
  }
  return { type: 'ignored' };
}

/** One operation on one key by a grant's principal: the unit of a grant's usage evidence. */
export interface OperationUsage {
  readonly operation: string;
  readonly key: string;
  readonly count: number;
  readonly firstUse: string;
  readonly lastUse: string;
}

export interface GrantUsage {
  readonly grantId: string;
  readonly used: boolean;
  readonly operations: readonly OperationUsage[];
  readonly firstUse?: string;
  readonly lastUse?: string;
}

/** One use as stored: which grant, which operation on which key, when. */
export interface UseRecord {
  readonly grantId: string;
  readonly operation: string;
  readonly key: string;
  readonly time: string;
}

/** A grant's usage from its use records (in any order). */
export function summarizeGrantUsage(grantId: string, uses: readonly UseRecord[]): GrantUsage {
  const byOperation = new Map<string, { operation: string; key: string; count: number; firstUse: string; lastUse: string }>();
  for (const use of uses.filter((u) => u.grantId === grantId)) {
    const id = `${use.operation}\n${use.key}`;
    const entry = byOperation.get(id);
    if (!entry) {
      byOperation.set(id, { operation: use.operation, key: use.key, count: 1, firstUse: use.time, lastUse: use.time });
      continue;
    }
    entry.count += 1;
    if (use.time < entry.firstUse) entry.firstUse = use.time;
    if (use.time > entry.lastUse) entry.lastUse = use.time;
  }
  const operations = [...byOperation.values()].sort((a, b) => a.key.localeCompare(b.key) || a.operation.localeCompare(b.operation));
  if (operations.length === 0) return { grantId, used: false, operations };
  const firstUse = operations.map((o) => o.firstUse).sort()[0];
  const lastUse = operations.map((o) => o.lastUse).sort().at(-1);
  return { grantId, used: true, operations, firstUse, ...(lastUse ? { lastUse } : {}) };
}

export interface RuleRightSizing {
  readonly ruleId: string;
  readonly grants: number;
  readonly used: number;
  /** The longest time from grant to last use among the rule's used grants (ms). */
  readonly longestUseMs?: number;
  /** The median duration granted (ms). */
  readonly medianGrantedMs: number;
  /** The rule's default duration in the policy (ms), when the report knows the policy. */
  readonly defaultDurationMs?: number;
  /** Set when the rule's grants run much longer than they are used: a shorter default to consider. */
  readonly suggestion?: string;
}

export interface UsageReportGrant {
  readonly id: string;
  readonly ruleId: string;
  readonly principalId: string;
  readonly role: string;
  readonly scope: string;
  readonly grantedAt: string;
  readonly used: boolean;
  readonly operations: readonly OperationUsage[];
  /** From grant to first use (ms), when used. */
  readonly firstUseAfterMs?: number;
}

export interface UsageReport {
  readonly grants: readonly UsageReportGrant[];
  readonly used: number;
  readonly unused: number;
  readonly rules: readonly RuleRightSizing[];
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor((sorted.length - 1) / 2)];
};

/** A duration as a default could be set: rounded up to the quarter hour (at least 15 minutes). */
const QUARTER_HOUR = 15 * 60_000;
const roundedUp = (ms: number): string => formatIsoDuration(Math.max(1, Math.ceil(ms / QUARTER_HOUR)) * QUARTER_HOUR);

/**
 * A rule whose grants are used for less than half of what they last is worth a shorter default. With
 * the rule's default duration known, it is the default that is compared, since it is what it sets.
 */
function rightSize(ruleId: string, entries: readonly { grant: AccessRequest; usage: GrantUsage }[], defaultDurationMs?: number): RuleRightSizing {
  const used = entries.filter((e) => e.usage.used && e.usage.lastUse);
  const medianGrantedMs = median(entries.map((e) => e.grant.totalDurationMs));
  const useSpans = used.map((e) => Date.parse(e.usage.lastUse ?? '') - Date.parse(e.grant.grantedAt ?? ''));
  const longestUseMs = useSpans.length > 0 ? Math.max(...useSpans) : undefined;
  const base = { ruleId, grants: entries.length, used: used.length, medianGrantedMs, ...(longestUseMs === undefined ? {} : { longestUseMs }), ...(defaultDurationMs === undefined ? {} : { defaultDurationMs }) };
  if (longestUseMs !== undefined && defaultDurationMs !== undefined && longestUseMs * 2 < defaultDurationMs) {
    return { ...base, suggestion: `the default duration is ${formatIsoDuration(defaultDurationMs)} but grants are used within ${formatIsoDuration(longestUseMs)}: consider a default duration of ${roundedUp(longestUseMs)}` };
  }
  if (longestUseMs !== undefined && defaultDurationMs === undefined && longestUseMs * 2 < medianGrantedMs) {
    return { ...base, suggestion: `grants last ${formatIsoDuration(medianGrantedMs)} (median) but are used within ${formatIsoDuration(longestUseMs)}: consider a default duration of ${roundedUp(longestUseMs)}` };
  }
  if (used.length === 0 && entries.length > 0) return { ...base, suggestion: `none of its ${entries.length} grant(s) was used: consider whether the rule is needed` };
  return base;
}

/** The auditors' report: each data-plane grant, used or not, and a right-sizing line per rule (against its default duration when given). */
export function usageReport(grants: readonly AccessRequest[], uses: readonly UseRecord[], defaultDurations: Readonly<Record<string, number>> = {}): UsageReport {
  const granted = grants.filter((g) => g.grantedAt && g.plane !== 'azure-rbac');
  const entries = granted.map((grant) => ({ grant, usage: summarizeGrantUsage(grant.id, uses) }));
  const rows: UsageReportGrant[] = entries.map(({ grant, usage }) => ({
    id: grant.id,
    ruleId: grant.ruleId,
    principalId: grant.principalId,
    role: grant.role,
    scope: grant.scope,
    grantedAt: grant.grantedAt ?? '',
    used: usage.used,
    operations: usage.operations,
    ...(usage.firstUse ? { firstUseAfterMs: Date.parse(usage.firstUse) - Date.parse(grant.grantedAt ?? '') } : {}),
  }));
  const rules = [...new Set(entries.map((e) => e.grant.ruleId))].sort().map((ruleId) => rightSize(ruleId, entries.filter((e) => e.grant.ruleId === ruleId), defaultDurations[ruleId]));
  const used = rows.filter((r) => r.used).length;
  return { grants: rows, used, unused: rows.length - used, rules };
}
