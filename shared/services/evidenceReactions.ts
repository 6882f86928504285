/**
 * What the service does about what the HSM's audit log shows, beyond storing it: a role assignment
 * changed outside the service reconciles the HSM at once (an apply where the policy enforces) and
 * is told to the security team; a key used outside any grant and a principal that keeps being
 * refused are told too. Everything goes into the audit trail with its CloudEvent, each at most once
 * per log line (or per principal and key), whatever the redo.
 */
import {
  assignmentChangedEvent,
  assignmentChangeNotice,
  askForAccessLink,
  EVIDENCE_TRAIL_ID,
  refusedAttemptsEvent,
  refusedAttemptsNotice,
  securityAdminRecipients,
  useOutsideGrantEvent,
  useOutsideGrantNotice,
  type EvidenceLine,
  type NotificationContent,
  type OutboundEvent,
  type Policy,
} from '../domain';
import type { EvidenceReactions, EvidenceRow } from './auditIngestion';
import type { NotificationService } from './notifications';
import type { AuditEntry, Clock, LedgerPort, ServiceLog } from './ports';
import type { ReconciliationService } from './reconciliation';

/** Who the immediate runs are requested by, in the trail and the run's report. */
export const EVIDENCE_ACTOR = 'system:hsm-audit-log';

export interface EvidenceReactionDeps {
  policy: Policy;
  /** The HSM the log is of (the policy's name for it). */
  hsm: string;
  ledger: Pick<LedgerPort, 'appendAuditOnce'>;
  notifications: Pick<NotificationService, 'announce'>;
  reconciliation: Pick<ReconciliationService, 'start' | 'step' | 'continueLater' | 'report'>;
  /** How long the run may work inside the ingestion before the queue carries it on. */
  reconcileBudgetMs: number;
  clock: Clock;
  log: ServiceLog;
  /** CloudEvents `source`; without it (no topic) nothing is published. */
  eventSource?: string;
  afterCommit?: () => void;
  /** The app's public URL, for the links in the messages (none without it). */
  publicBaseUrl?: string;
}

const lineOf = (row: EvidenceRow): EvidenceLine => ({
  blob: row.blob, offset: row.offset, time: row.time, principalId: row.principalId, operation: row.operation, status: row.status, correlationId: row.correlationId,
  ...(row.key ? { key: row.key } : {}), ...(row.scope ? { scope: row.scope } : {}),
});

export class EvidenceReactionService implements EvidenceReactions {
  constructor(private readonly deps: EvidenceReactionDeps) {}

  private get mode(): 'plan' | 'apply' {
    return this.deps.policy.reconcile.mode === 'enforce' ? 'apply' : 'plan';
  }

  /**
   * Starts a run of the HSM now and works on it for the budget (the queue carries it on). A run
   * already in progress covers assignment changes only if it started after the earliest of them;
   * otherwise this throws, and the piece is read again later. Use outside any grant alone never
   * waits: the access behind it is on the HSM already, for the run in progress or the next to find.
   */
  async reconcileNow(unexplained: readonly EvidenceRow[]): Promise<string | undefined> {
    const reconciliation = this.deps.reconciliation;
    const changes = unexplained.filter((row) => row.type === 'assignment-change');
    const started = await reconciliation.start(this.mode, EVIDENCE_ACTOR, this.deps.hsm);
    if (!started.ok) {
      if (changes.length === 0) return started.runningRunId;
      const earliest = changes.map((c) => c.time).sort()[0] ?? '';
      const runningSince = (await reconciliation.report(started.runningRunId))?.run.startedAt;
      if (runningSince && runningSince > earliest) return started.runningRunId;
      throw new Error(`reconciliation run ${started.runningRunId} is in progress since before the change at ${earliest}: reading this part of the log again later`);
    }
    const run = await reconciliation.step(started.run.id, this.deps.reconcileBudgetMs);
    if (run?.status === 'running') await reconciliation.continueLater(run);
    this.deps.log.info(`HSM audit log: ${changes.length} role-assignment change(s) outside the service, ${unexplained.length - changes.length} use(s) outside any grant; reconcile run ${started.run.id} (${this.mode}) ${run?.status ?? 'handed over'}`);
    return started.run.id;
  }

  async assignmentChanged(row: EvidenceRow, onceKey: string, runId?: string): Promise<void> {
    const line = lineOf(row);
    const reason = `${row.operation} at ${row.scope ?? '/'} made directly on the HSM (its audit log), not through the service`;
    await this.record(onceKey, { actor: row.principalId, action: 'evidence.assignment-changed', requestId: runId ?? EVIDENCE_TRAIL_ID, reason, details: { ...line, ...(runId ? { runId } : {}) } }, (source) => assignmentChangedEvent(this.deps.hsm, line, source));
    const link = this.link(runId ? `/api/reconcile/reports/${encodeURIComponent(runId)}` : '/api/reconcile/reports/latest');
    await this.tell(assignmentChangeNotice(this.deps.policy, this.deps.hsm, line, this.mode), onceKey, link);
  }

  async usedOutsideAnyGrant(row: EvidenceRow, onceKey: string, runId?: string): Promise<void> {
    const line = lineOf(row);
    const reason = `${row.operation} on ${row.key ?? '?'} with neither standing access nor a grant at ${row.time}`;
    await this.record(onceKey, { actor: row.principalId, action: 'evidence.use-outside-any-grant', requestId: runId ?? EVIDENCE_TRAIL_ID, reason, details: { ...line, ...(runId ? { runId } : {}) } }, (source) => useOutsideGrantEvent(this.deps.hsm, line, source));
    await this.tell(useOutsideGrantNotice(this.deps.policy, this.deps.hsm, line), onceKey, this.link('/api/reports/usage'));
  }

  async persistentRefusals(principalId: string, key: string, count: number, onceKey: string): Promise<void> {
    const streak = { hsm: this.deps.hsm, principalId, key, count, at: this.deps.clock.now().toISOString() };
    await this.record(onceKey, { actor: principalId, action: 'evidence.refused-attempts', requestId: EVIDENCE_TRAIL_ID, reason: `refused ${count} times on ${key} (403)`, details: { principalId, key, count } }, (source) => refusedAttemptsEvent(streak, source));
    const link = this.deps.publicBaseUrl ? askForAccessLink(this.deps.publicBaseUrl, principalId, key) : undefined;
    await this.tell(refusedAttemptsNotice(this.deps.policy, streak), onceKey, link);
  }

  private async record(onceKey: string, entry: Omit<AuditEntry, 'at'>, event: (source: string) => OutboundEvent): Promise<void> {
    const source = this.deps.eventSource;
    const written = await this.deps.ledger.appendAuditOnce(`${onceKey}|audit`, [{ at: this.deps.clock.now().toISOString(), ...entry }], source ? [event(source)] : []);
    if (written === 'appended' && source) this.deps.afterCommit?.();
  }

  private async tell(content: NotificationContent, onceKey: string, link: string | undefined): Promise<void> {
    await this.deps.notifications.announce({ ...content, ...(link ? { link } : {}) }, securityAdminRecipients(this.deps.policy), `${onceKey}|told`);
  }

  private link(path: string): string | undefined {
    return this.deps.publicBaseUrl ? `${this.deps.publicBaseUrl.replace(/\/+$/, '')}${path}` : undefined;
  }
}
