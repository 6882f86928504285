/**
 * What the HSM's audit log says, for readers: a grant's usage (its page and its record), and the
 * auditors' usage report with refused attempts and use outside any grant.
 */
import { PERSISTENT_REFUSALS, summarizeGrantUsage, usageReport, type AccessRequest, type GrantUsage, type Policy, type UsageReport } from '../domain';
import type { EvidenceRow, EvidenceStore } from './auditIngestion';
import { listAll, type LedgerPort } from './ports';

export interface RefusedAttempts {
  readonly principalId: string;
  readonly key: string;
  readonly count: number;
  readonly firstAttempt: string;
  readonly lastAttempt: string;
  /** Refused PERSISTENT_REFUSALS times or more: the security team was told (once). */
  readonly persistent: boolean;
}

export interface LoggedCall {
  readonly principalId: string;
  readonly operation: string;
  readonly time: string;
  readonly status: number;
  readonly correlationId: string;
  readonly key?: string;
  readonly scope?: string;
}

export interface AuditorsUsageReport extends UsageReport {
  /** Whether the HSM's audit log is read at all (AUDIT_LOGS_STORAGE); without it every grant shows as unused. */
  readonly evidence: boolean;
  readonly refusedAttempts: readonly RefusedAttempts[];
  /** The strongest drift signal: key operations with neither standing access nor a grant behind them. */
  readonly outsideAnyGrant: readonly LoggedCall[];
  /** Role-assignment writes and deletes made directly on the HSM by anyone but the service. */
  readonly assignmentChanges: readonly LoggedCall[];
}

const logged = (row: EvidenceRow): LoggedCall => ({
  principalId: row.principalId, operation: row.operation, time: row.time, status: row.status, correlationId: row.correlationId,
  ...(row.key ? { key: row.key } : {}), ...(row.scope ? { scope: row.scope } : {}),
});

/** Refusals per principal and key, most first. */
export function refusedAttemptsOf(rows: readonly EvidenceRow[]): RefusedAttempts[] {
  const groups = new Map<string, EvidenceRow[]>();
  for (const row of rows) {
    const id = `${row.principalId}\n${row.key ?? ''}`;
    groups.set(id, [...(groups.get(id) ?? []), row]);
  }
  return [...groups.values()].map((group) => {
    const times = group.map((r) => r.time).sort();
    return { principalId: group[0].principalId, key: group[0].key ?? '', count: group.length, firstAttempt: times[0], lastAttempt: times[times.length - 1], persistent: group.length >= PERSISTENT_REFUSALS };
  }).sort((a, b) => b.count - a.count || a.principalId.localeCompare(b.principalId) || a.key.localeCompare(b.key));
}

export class EvidenceService {
  constructor(private readonly deps: { store?: Pick<EvidenceStore, 'uses' | 'rows'>; ledger: LedgerPort; policy?: Policy }) {}

  /** A grant's usage; unused (and no operations) while the audit log is not read. */
  async grantUsage(request: Pick<AccessRequest, 'id'>): Promise<GrantUsage> {
    return summarizeGrantUsage(request.id, this.deps.store ? await this.deps.store.uses(request.id) : []);
  }

  async usageReport(): Promise<AuditorsUsageReport> {
    const store = this.deps.store;
    const requests = (await listAll(this.deps.ledger, { pageSize: 1000 })).map((s) => s.request);
    const [uses, refused, outside, changes] = store
      ? await Promise.all([store.uses(), store.rows('refused'), store.rows('outside-any-grant'), store.rows('assignment-change')])
      : [[], [], [], []];
    const byTime = (a: LoggedCall, b: LoggedCall): number => a.time.localeCompare(b.time);
    return {
      evidence: store !== undefined,
      ...usageReport(requests, uses, Object.fromEntries((this.deps.policy?.eligibility ?? []).map((rule) => [rule.id, rule.defaultDurationMs]))),
      refusedAttempts: refusedAttemptsOf(refused),
      outsideAnyGrant: outside.map(logged).sort(byTime),
      assignmentChanges: changes.map(logged).sort(byTime),
    };
  }
}
