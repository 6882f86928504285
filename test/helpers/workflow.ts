/** Driving the access request workflow directly, as the app's processes do, without HTTP. */
import { randomUUID } from 'node:crypto';
import { QueueServiceClient } from '@azure/storage-queue';
import { PERSONAS } from '../../dev/personas';
import { LEDGER_TABLE, type AppContext } from '../../shared/app';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { TableLedger } from '../../shared/adapters/storage/ledger';
import { QueueRevocationScheduler, REVOCATION_QUEUE } from '../../shared/adapters/storage/revocationQueue';
import type { Caller } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import type { ServiceLog } from '../../shared/services/ports';

/** A Contoso persona as the workflow sees its caller. */
export const caller = (name: keyof typeof PERSONAS): Caller => ({ objectId: PERSONAS[name].oid, groups: [...PERSONAS[name].groups] });

export const SILENT_LOG: ServiceLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The app's workflow as a process that dies right after each commit: it stores requests (with their
 * outbox records when `events` is set), grants and schedules revocations, but neither notifies
 * anyone nor drains the outbox.
 */
export function workflowThatDiesAfterCommit(context: AppContext, storageConnectionString: string, options: { events?: boolean } = {}): AccessRequestService {
  const clock = { now: () => new Date() };
  return new AccessRequestService({
    policy: context.policy,
    ledger: new TableLedger(context.tableClient(LEDGER_TABLE)),
    hsm: () => new HsmAssignmentPort(context.hsm()),
    scheduler: new QueueRevocationScheduler(QueueServiceClient.fromConnectionString(storageConnectionString).getQueueClient(REVOCATION_QUEUE), clock),
    clock,
    log: SILENT_LOG,
    newId: randomUUID,
    ...(options.events ? { eventSource: context.eventGrid!.source } : {}),
  });
}
