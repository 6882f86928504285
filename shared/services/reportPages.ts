/** The access report's data, as the JSON answer and the HTML page (shared/web/reports.ts) show it. */
import type { AzureRbacGrant, KeyAccess } from '../domain';
import type { ReconcileRun } from './reconciliationPorts';

/** The access report as JSON and HTML show it: each part says what it is as of. */
export interface AccessReportBody {
  readonly hsm: string;
  readonly runId: string;
  /** The inventory's time (the last reconciliation's end); kept under its old name too. */
  readonly asOf: string;
  readonly inventoryAsOf: string;
  /** Running grants come from the service's own records at the time of the request. */
  readonly grantsAsOf: string;
  readonly keys: readonly KeyAccess[];
  /** The management plane's running grants (Azure RBAC), as of `grantsAsOf`. */
  readonly azureRbac: readonly AzureRbacGrant[];
}

export function accessReportBody(run: Pick<ReconcileRun, 'hsm' | 'id' | 'startedAt' | 'finishedAt'>, now: Date, keys: readonly KeyAccess[], azureRbac: readonly AzureRbacGrant[]): AccessReportBody {
  const asOf = run.finishedAt ?? run.startedAt;
  return { hsm: run.hsm, runId: run.id, asOf, inventoryAsOf: asOf, grantsAsOf: now.toISOString(), keys, azureRbac };
}
