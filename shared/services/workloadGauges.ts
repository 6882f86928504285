import type { RequestStatus } from '../domain';
import type { LedgerPort } from './ports';
import type { RunListener } from './reconciliation';

export interface WorkloadGauges {
  activeGrants(count: number): void;
  pendingApprovals(count: number): void;
}

async function count(ledger: Pick<LedgerPort, 'list'>, status: RequestStatus): Promise<number> {
  let total = 0;
  let continuation: string | undefined;
  do {
    const page = await ledger.list({ statuses: [status], pageSize: 1000, ...(continuation ? { continuation } : {}) });
    total += page.items.length;
    continuation = page.continuation;
  } while (continuation);
  return total;
}

/**
 * Records how many grants are in force and how many requests wait for an approver, at most once per
 * `everyMs` (the sweep that calls it runs every few seconds; a gauge needs far fewer readings).
 */
export function workloadGaugeRecorder(ledger: () => Pick<LedgerPort, 'list'>, gauges: WorkloadGauges, everyMs = 60_000, now: () => number = Date.now): () => Promise<void> {
  let last = -Infinity;
  return async () => {
    if (now() - last < everyMs) return;
    last = now();
    gauges.activeGrants(await count(ledger(), 'Active'));
    gauges.pendingApprovals(await count(ledger(), 'Pending'));
  };
}

/** Records a completed reconcile run's drift, one reading per kind (zero included, so that a dashboard sees drift go away). */
export function driftRecorder(record: (count: number, attributes: Record<string, string>) => void): RunListener {
  return async (run) => {
    for (const [kind, count] of Object.entries(run.counts ?? {})) record(count, { kind, hsm: run.hsm, mode: run.mode });
  };
}
