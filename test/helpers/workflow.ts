/** Driving the access request workflow directly, as the app's processes do, without HTTP. */
import { randomUUID } from 'node:crypto';
import type { QueueClient } from '@azure/storage-queue';
import { PERSONAS } from '../../dev/personas';
import { LEDGER_TABLE, type AppContext } from '../../shared/app';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { QueueRevocationScheduler, REVOCATION_QUEUE, type RevocationMessage } from '../../shared/adapters/storage/revocationQueue';
import { createQueueClient } from '../../shared/adapters/storage/tables';
import type { Caller } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import type { ServiceLog, WakeReason } from '../../shared/services/ports';

/** A Contoso persona as the workflow sees its caller. */
export const caller = (name: keyof typeof PERSONAS): Caller => ({ objectId: PERSONAS[name].oid, groups: [...PERSONAS[name].groups] });

export const SILENT_LOG: ServiceLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The app's workflow as a process that dies right after each commit: it stores requests (with their
 * outbox records when `events` is set, its notice rows when `notices` is), grants and schedules
 * revocations, but neither notifies anyone nor drains the outbox.
 */
export function workflowThatDiesAfterCommit(context: AppContext, options: { events?: boolean; notices?: boolean } = {}): AccessRequestService {
  const clock = { now: () => new Date() };
  return new AccessRequestService({
    policy: context.policy,
    ledger: new PartitionedLedger(context.tableClient(LEDGER_TABLE)),
    hsm: () => new HsmAssignmentPort(context.hsm()),
    scheduler: new QueueRevocationScheduler(createQueueClient(context.config.storage, REVOCATION_QUEUE, context.credential), clock),
    clock,
    log: SILENT_LOG,
    newId: randomUUID,
    ...(options.events ? { eventSource: context.eventGrid!.source } : {}),
    ...(options.notices ? { notices: true } : {}),
  });
}

/** A revocation queue message as the queue trigger hands it over. */
export interface ReceivedWakeUp {
  readonly requestId: string;
  readonly reason: WakeReason;
  readonly meantFor: Date;
  readonly hop: number;
}

/** Takes the visible wake-ups off a revocation queue (invisible for `holdSeconds`), as a queue trigger does, without running them. */
export async function takeWakeUps(queue: QueueClient, holdSeconds = 60): Promise<Array<ReceivedWakeUp & { messageId: string; popReceipt: string }>> {
  await queue.createIfNotExists();
  const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: holdSeconds });
  return receivedMessageItems.map((item) => {
    const message = JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as RevocationMessage;
    return { requestId: message.requestId, reason: message.reason ?? 'expiry', meantFor: new Date(message.expiresAt), hop: message.hop ?? 0, messageId: item.messageId, popReceipt: item.popReceipt };
  });
}

/**
 * Runs every visible wake-up meant for `now` or earlier on `service` until none is visible, as the
 * queue trigger would; returns how many ran. One meant for later (a follow-up, on a test's clock)
 * is put back for an hour, so that a slow machine cannot make it count.
 */
export async function drainWakeUps(queue: QueueClient, service: AccessRequestService, now: () => Date = () => new Date()): Promise<number> {
  let ran = 0;
  for (let batch = await takeWakeUps(queue); batch.length > 0; batch = await takeWakeUps(queue)) {
    for (const wakeUp of batch) {
      if (wakeUp.meantFor.getTime() > now().getTime()) {
        await queue.updateMessage(wakeUp.messageId, wakeUp.popReceipt, undefined, 3600);
        continue;
      }
      await service.wake(wakeUp.requestId, wakeUp.reason, wakeUp.meantFor, wakeUp.hop);
      await queue.deleteMessage(wakeUp.messageId, wakeUp.popReceipt);
      ran++;
    }
  }
  return ran;
}
