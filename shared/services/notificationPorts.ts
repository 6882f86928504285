/** The small interfaces the notification service drives; adapters in shared/adapters/notify implement them. */
import type { DriftAlertState, NotificationContent } from '../domain';

/** One notification as a channel renders it: the content, and the link to the request's review page. */
export interface OutgoingNotification extends NotificationContent {
  /** The review page, with its signed token; absent when review links are not configured. */
  readonly link?: string;
}

/** Posts an Adaptive Card to the Teams Workflows webhook held by an app setting. */
export interface TeamsPort {
  /** Throws DeliveryFailure; retries 429/5xx itself (honouring Retry-After) before it gives up. */
  post(webhookSetting: string, notification: OutgoingNotification): Promise<{ attempts: number }>;
}

/** Sends one email (HTML and plain text) to one address. */
export interface MailPort {
  /** Throws DeliveryFailure. */
  send(address: string, notification: OutgoingNotification): Promise<void>;
}

/** Review page links for a request. */
export interface ReviewLinkPort {
  /** The link, or undefined when no public URL or key is configured. */
  linkFor(requestId: string, now: Date): string | undefined;
}

/** Marks of messages that go out once: timer notifications (a reminder, an expiry warning) and a run's drift message. */
export interface NotificationMarks {
  /**
   * True for the first caller of `key`. Also true for a later caller when the earlier claim was never
   * confirmed and is at least `reclaimAfterMs` old: its sender died before the message went out.
   */
  claim(key: string, reclaimAfterMs?: number): Promise<boolean>;
  /** The claimed message went out (delivered, or its failure recorded): nobody sends it again. */
  confirm(key: string): Promise<void>;
  /** Whether `key`'s message was confirmed sent. */
  isSent(key: string): Promise<boolean>;
}

/** What each HSM's security team was last told about its drift, so that unchanged drift is not told again. */
export interface DriftAlertStore {
  read(hsm: string): Promise<{ state: DriftAlertState; etag: string } | undefined>;
  /** Stores `state` if the stored one is still `etag` (absent: if there is none yet); false when another writer got there first. */
  write(hsm: string, state: DriftAlertState, etag: string | undefined): Promise<boolean>;
}

/** A delivery that did not go through; `retryable` when trying again later may help. */
export class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The server asked to wait this long (Retry-After) before the next try. */
    readonly retryAfterMs?: number,
    /** Attempts the adapter already made. */
    readonly attempts = 1,
  ) {
    super(message);
    this.name = 'DeliveryFailure';
  }
}
