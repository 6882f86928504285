import {
  dueNotifications,
  maskAddress,
  notificationContent,
  notificationsForTransition,
  recipientsFor,
  SYSTEM_ACTOR,
  type AccessRequest,
  type MessageKind,
  type NotificationIntent,
  type Policy,
  type Recipients,
} from '../domain';
import { DeliveryFailure, type MailPort, type NotificationMarks, type OutgoingNotification, type ReviewLinkPort, type TeamsPort } from './notificationPorts';
import { listAll, type AuditEntry, type Clock, type LedgerPort, type ServiceLog } from './ports';

const DEFAULT_RETRY_DELAYS_MS = [250, 1000, 3000];
const DEFAULT_WAIT_BUDGET_MS = 2000;
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_AUDIT_ATTEMPTS = 20;
/** A timer message claimed this long ago and never confirmed lost its sender (sends take seconds; a Retry-After at most a minute). */
export const RECLAIM_TIMER_CLAIM_AFTER_MS = 5 * 60_000;

export interface NotificationDependencies {
  policy: Policy;
  /** Failed deliveries are appended to the audit trail of their request. */
  ledger: LedgerPort;
  clock: Clock;
  log: ServiceLog;
  /** Absent: Teams is not configured. */
  teams?: TeamsPort;
  /** Absent: email (SMTP) is not configured. */
  mail?: MailPort;
  links?: ReviewLinkPort;
  /** Without marks a timer notification may go out again on the next run. */
  marks?: NotificationMarks;
  sleep?(ms: number): Promise<void>;
  /** Waits between tries of a failure worth retrying (default 0.25 s, 1 s, 3 s). */
  retryDelaysMs?: readonly number[];
  /** How long a workflow step waits for its notifications (default 2 s); slower ones finish in the background. */
  waitBudgetMs?: number;
}

export interface DeliveryOutcome {
  readonly channel: 'teams' | 'email';
  /** The webhook's app-setting name, or the (masked) address. */
  readonly target: string;
  readonly kind: MessageKind;
  /** The request, or the reconciliation run, the message is about. */
  readonly requestId: string;
  readonly ok: boolean;
  readonly attempts: number;
  readonly error?: string;
}

/**
 * Tells approvers and requesters what happened, on the channels the policy names. Never throws and
 * never undoes anything: a failed delivery is retried, logged and recorded in the audit trail as
 * `notification.failed`, and the workflow goes on regardless.
 */
export class NotificationService {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retryDelaysMs: readonly number[];
  private readonly waitBudgetMs: number;

  constructor(private readonly deps: NotificationDependencies) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.retryDelaysMs = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.waitBudgetMs = deps.waitBudgetMs ?? DEFAULT_WAIT_BUDGET_MS;
  }

  /**
   * The workflow's hook after every saved change. Waits for the deliveries at most `waitBudgetMs`
   * (the rest go on in the background), and never throws.
   */
  async onTransition(before: AccessRequest | undefined, after: AccessRequest): Promise<void> {
    try {
      const intents = notificationsForTransition(before, after);
      if (intents.length === 0) return;
      const all = Promise.all(intents.map((intent) => this.deliverOnce(intent, after)));
      let timer: NodeJS.Timeout | undefined;
      const budget = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.waitBudgetMs);
      });
      await Promise.race([all.then(() => undefined), budget]);
      clearTimeout(timer);
    } catch (error) {
      this.deps.log.error(`Notifications for request ${after.id} failed: ${(error as Error).message}`);
    }
  }

  /**
   * `deliver`, claimed and confirmed under the intent's key when it has one (so the timer can catch
   * up on it); undefined when it was claimed already.
   */
  private async deliverOnce(intent: NotificationIntent, request: AccessRequest, reclaimAfterMs?: number): Promise<DeliveryOutcome[] | undefined> {
    const marks = intent.key ? this.deps.marks : undefined;
    if (marks && !(await marks.claim(intent.key!, reclaimAfterMs))) return undefined;
    const outcomes = await this.deliver(intent, request);
    await marks?.confirm(intent.key!);
    return outcomes;
  }

  /**
   * A notification a committed change owes (its notice row), sent once under `key` (the intent's own
   * key, shared with the timer's catch-up, or the row's): 'sent'; 'done' when it went out already;
   * 'busy' while another sender holds a claim younger than `reclaimAfterMs` (without it, any claim).
   */
  async sendNotice(intent: NotificationIntent, request: AccessRequest, key: string, reclaimAfterMs?: number): Promise<'sent' | 'done' | 'busy'> {
    const marks = this.deps.marks;
    if (marks && !(await marks.claim(key, reclaimAfterMs))) return (await marks.isSent(key)) ? 'done' : 'busy';
    await this.deliver(intent, request);
    await marks?.confirm(key);
    return 'sent';
  }

  /** Sends one intent to every recipient of its audience; resolves with each outcome, never rejects. */
  async deliver(intent: NotificationIntent, request: AccessRequest): Promise<DeliveryOutcome[]> {
    try {
      const recipients = recipientsFor(this.deps.policy, request, intent.audience);
      const link = this.deps.links?.linkFor(request.id, this.deps.clock.now());
      const notification: OutgoingNotification = { ...notificationContent(this.deps.policy, request, intent), ...(link ? { link } : {}) };
      const onFailed = (outcome: DeliveryOutcome): Promise<DeliveryOutcome> => this.failed(outcome, request);
      const sends = this.sendAll(notification, recipients, `Request ${request.id}`, onFailed);
      if (sends.length === 0) this.deps.log.info(`Request ${request.id}: nobody to tell about '${intent.kind}' (${intent.audience} have no channel in the policy)`);
      return await Promise.all(sends);
    } catch (error) {
      this.deps.log.error(`Request ${request.id}: notification '${intent.kind}' could not be prepared: ${(error as Error).message}`);
      return [];
    }
  }

  /**
   * The timer's work: reminders for requests that have waited half their lifetime and warnings
   * before grants end, each claimed once (so that overlapping or repeated runs send it once).
   */
  async sendDue(): Promise<{ sent: number; outcomes: DeliveryOutcome[] }> {
    const now = this.deps.clock.now();
    const requests = (await listAll(this.deps.ledger, { statuses: ['Pending', 'Active'], pageSize: 500 })).map((stored) => stored.request);
    const byId = new Map(requests.map((request) => [request.id, request]));
    const outcomes: DeliveryOutcome[] = [];
    let sent = 0;
    for (const intent of dueNotifications(this.deps.policy, requests, now)) {
      // Without marks the timer cannot tell what went out already: it sends only what falls due now.
      if (!this.deps.marks && intent.kind === 'approval-needed') continue;
      const request = byId.get(intent.requestId) as AccessRequest;
      const delivered = await this.deliverOnce(intent, request, RECLAIM_TIMER_CLAIM_AFTER_MS);
      if (!delivered) continue;
      outcomes.push(...delivered);
      sent++;
    }
    return { sent, outcomes };
  }

  /**
   * Sends a message that is about no request (drift found by a reconciliation run) to `recipients`,
   * once per `onceKey` (a mark row, confirmed after sending; a claim left unconfirmed for
   * `reclaimAfterMs` was left by a sender that died and is taken over, so at least once). Failures
   * are retried, logged and appended to the audit trail as `notification.failed` under the message's
   * `requestId`; never throws.
   */
  async announce(notification: OutgoingNotification, recipients: Recipients, onceKey: string, reclaimAfterMs = RECLAIM_TIMER_CLAIM_AFTER_MS): Promise<DeliveryOutcome[]> {
    const subject = `Run ${notification.requestId}`;
    try {
      if (this.deps.marks && !(await this.deps.marks.claim(onceKey, reclaimAfterMs))) {
        this.deps.log.info(`${subject}: '${notification.kind}' was sent already`);
        return [];
      }
      const sends = this.sendAll(notification, recipients, subject, (outcome) => this.failedAnnouncement(outcome));
      if (sends.length === 0) this.deps.log.warn(`${subject}: nobody to tell about '${notification.kind}' (${notification.audience} have no channel in the policy)`);
      const outcomes = await Promise.all(sends);
      await this.deps.marks?.confirm(onceKey);
      return outcomes;
    } catch (error) {
      this.deps.log.error(`${subject}: notification '${notification.kind}' failed: ${(error as Error).message}`);
      return [];
    }
  }

  private sendAll(notification: OutgoingNotification, recipients: Recipients, subject: string, onFailed: (outcome: DeliveryOutcome) => Promise<DeliveryOutcome>): Array<Promise<DeliveryOutcome>> {
    const { teams, mail } = this.deps;
    const base = { kind: notification.kind, requestId: notification.requestId };
    const sends: Array<Promise<DeliveryOutcome>> = [];
    for (const setting of recipients.teams) {
      const target = { ...base, channel: 'teams' as const, target: setting };
      sends.push(teams ? this.attempt(target, subject, onFailed, () => teams.post(setting, notification)) : onFailed({ ...target, ok: false, attempts: 0, error: 'Teams is not configured' }));
    }
    for (const address of recipients.email) {
      const target = { ...base, channel: 'email' as const, target: maskAddress(address) };
      sends.push(mail ? this.attempt(target, subject, onFailed, () => mail.send(address, notification)) : onFailed({ ...target, ok: false, attempts: 0, error: 'email is not configured (SMTP_HOST)' }));
    }
    return sends;
  }

  private async attempt(
    delivery: Pick<DeliveryOutcome, 'channel' | 'target' | 'kind' | 'requestId'>,
    subject: string,
    onFailed: (outcome: DeliveryOutcome) => Promise<DeliveryOutcome>,
    send: () => Promise<{ attempts: number } | void>,
  ): Promise<DeliveryOutcome> {
    const { channel, target, kind } = delivery;
    let attempts = 0;
    for (let retry = 0; ; retry++) {
      try {
        const result = await send();
        attempts += result?.attempts ?? 1;
        this.deps.log.info(`${subject}: ${kind} sent by ${channel} to ${target}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`);
        return { ...delivery, ok: true, attempts };
      } catch (error) {
        const failure = error instanceof DeliveryFailure ? error : new DeliveryFailure((error as Error).message ?? String(error), true);
        attempts += failure.attempts;
        if (!failure.retryable || retry >= this.retryDelaysMs.length) {
          return onFailed({ ...delivery, ok: false, attempts, error: failure.message });
        }
        this.deps.log.warn(`${subject}: ${kind} by ${channel} to ${target} failed (${failure.message}); trying again`);
        await this.sleep(Math.min(MAX_RETRY_AFTER_MS, Math.max(this.retryDelaysMs[retry], failure.retryAfterMs ?? 0)));
      }
    }
  }

  /** Logs the failure and appends it to the audit trail, under the run it is about. */
  private async failedAnnouncement(outcome: DeliveryOutcome): Promise<DeliveryOutcome> {
    const { channel, target, kind, attempts, error, requestId } = outcome;
    const reason = `${kind} by ${channel} to ${target} failed after ${attempts} attempt(s): ${error}`;
    this.deps.log.error(`Run ${requestId}: ${reason}`);
    try {
      await this.deps.ledger.appendAudit([{ at: this.deps.clock.now().toISOString(), actor: SYSTEM_ACTOR, action: 'notification.failed', requestId, reason, details: { channel, target, kind, attempts } }]);
    } catch (auditError) {
      this.deps.log.error(`Run ${requestId}: the failed ${kind} notification could not be recorded in the audit trail: ${(auditError as Error).message}`);
    }
    return outcome;
  }

  /** Logs the failure and appends it to the request's audit trail (a save of the unchanged request with one audit record). */
  private async failed(outcome: DeliveryOutcome, request: AccessRequest): Promise<DeliveryOutcome> {
    const { channel, target, kind, attempts, error } = outcome;
    this.deps.log.error(`Request ${request.id}: ${kind} by ${channel} to ${target} FAILED after ${attempts} attempt(s): ${error}`);
    try {
      for (let attempt = 0; attempt < MAX_AUDIT_ATTEMPTS; attempt++) {
        const stored = await this.deps.ledger.get(request.id);
        if (!stored) return outcome;
        const entry: AuditEntry = {
          at: this.deps.clock.now().toISOString(),
          actor: SYSTEM_ACTOR,
          action: 'notification.failed',
          requestId: request.id,
          to: stored.request.status,
          reason: `${kind} by ${channel} to ${target} failed after ${attempts} attempt(s): ${error}`,
          details: { channel, target, kind, attempts },
        };
        if ((await this.deps.ledger.update(stored.request, stored.etag, [entry])) === 'updated') return outcome;
      }
      this.deps.log.error(`Request ${request.id}: the failed ${kind} notification could not be recorded in the audit trail (the request kept changing)`);
    } catch (auditError) {
      this.deps.log.error(`Request ${request.id}: the failed ${kind} notification could not be recorded in the audit trail: ${(auditError as Error).message}`);
    }
    return outcome;
  }
}
