import type { TableClient } from '@azure/data-tables';
import type { Policy } from '../../domain';
import { NotificationService } from '../../services/notifications';
import type { Clock, LedgerPort, ServiceLog } from '../../services/ports';
import { loadNotificationConfig, type NotificationConfig } from '../config';
import { SmtpMailer } from './email';
import { TableDriftAlerts, TableNotificationMarks } from './marks';
import { SignedReviewLinks } from './reviewLinks';
import { TeamsChannel } from './teamsWebhook';

export { REVIEW_PATH, reviewPath, SignedReviewLinks } from './reviewLinks';

export const NOTIFICATION_MARKS_TABLE = 'notifications';

export interface NotificationSetup {
  readonly config: NotificationConfig;
  readonly links: SignedReviewLinks;
  /** The notification service, logging through `log`. */
  service(log: ServiceLog): NotificationService;
  /** What each HSM's security team was last told about drift (in the marks table). */
  driftAlerts(): TableDriftAlerts;
  /** The marks of messages that go out once (the Teams bot's announcements claim theirs there too). */
  marks(): TableNotificationMarks;
}

/**
 * The notification adapters built once from the app settings and the policy: Teams webhooks named
 * by the policy, SMTP, review links and the marks table of timer notifications.
 */
export function createNotificationSetup(options: {
  env: NodeJS.ProcessEnv;
  policy: Policy;
  clock: Clock;
  ledger: () => LedgerPort;
  tableClient: (name: string) => TableClient;
}): NotificationSetup {
  const webhookSettings = Object.values(options.policy.notifications?.approvers ?? {}).flatMap((channels) => (channels.teams ? [channels.teams] : []));
  const config = loadNotificationConfig(options.env, webhookSettings);
  const links = new SignedReviewLinks(config.publicBaseUrl, config.reviewLinkKeys, config.reviewLinkTtlMs);
  const teams = new TeamsChannel(config.teamsWebhooks);
  const mail = config.smtp ? new SmtpMailer(config.smtp) : undefined;
  let marks: TableNotificationMarks | undefined;
  let driftAlerts: TableDriftAlerts | undefined;
  return {
    config,
    links,
    driftAlerts: () => (driftAlerts ??= new TableDriftAlerts(options.tableClient(NOTIFICATION_MARKS_TABLE))),
    marks: () => (marks ??= new TableNotificationMarks(options.tableClient(NOTIFICATION_MARKS_TABLE))),
    service: (log) => {
      marks ??= new TableNotificationMarks(options.tableClient(NOTIFICATION_MARKS_TABLE));
      return new NotificationService({
        policy: options.policy,
        ledger: options.ledger(),
        clock: options.clock,
        log,
        teams,
        ...(mail ? { mail } : {}),
        links,
        marks,
      });
    },
  };
}
