import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { listenOnLoopback } from './emulator-common/server';
import { startMailSink, type MailSink } from './mail-sink';
import { startTeamsSink, type TeamsSink } from './teams-sink';

/**
 * The local stack's notification side: the mail sink and the Teams webhook sink, and the app
 * settings that point the app at them (SMTP_*, TEAMS_WEBHOOK_URL) and sign its review links
 * (REVIEW_LINK_KEYS, PUBLIC_BASE_URL).
 */

export const DEFAULT_SINK_PORTS = { smtp: 2525, mailWeb: 8025, teams: 8026 } as const;

export interface NotificationSinks {
  readonly mailSink: MailSink;
  readonly teamsSink: TeamsSink;
  close(): Promise<void>;
}

export async function startNotificationSinks(options: { random: boolean }): Promise<NotificationSinks> {
  const mailSink = await startMailSink(options.random ? { smtpPort: 0, webPort: 0 } : { smtpPort: DEFAULT_SINK_PORTS.smtp, webPort: DEFAULT_SINK_PORTS.mailWeb });
  let teamsSink: TeamsSink;
  try {
    teamsSink = await startTeamsSink({ port: options.random ? 0 : DEFAULT_SINK_PORTS.teams });
  } catch (error) {
    await mailSink.close();
    throw error;
  }
  return { mailSink, teamsSink, close: async () => void (await Promise.all([mailSink.close(), teamsSink.close()])) };
}

/** A port that was free a moment ago, for a server whose URL must be known before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The review link keys, kept in `<dataDir>/review-link-keys.json` so that links survive a restart. */
export function reviewLinkKeys(dataDir: string): string {
  const file = join(dataDir, 'review-link-keys.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
    if (Array.isArray(stored.keys) && stored.keys.length > 0 && stored.keys.every((k) => typeof k === 'string' && k.length >= 32)) return stored.keys.join(',');
  }
  const keys = [randomBytes(32).toString('base64url')];
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  return keys.join(',');
}

/** The app settings of the notification side, as Azure would have them. */
export function notificationSettings(sinks: NotificationSinks, apiUrl: string, dataDir: string): Record<string, string> {
  return {
    PUBLIC_BASE_URL: apiUrl,
    REVIEW_LINK_KEYS: reviewLinkKeys(dataDir),
    SMTP_HOST: sinks.mailSink.smtpHost,
    SMTP_PORT: String(sinks.mailSink.smtpPort),
    SMTP_FROM: 'HSM access governor <hsm-governor@contoso.example>',
    TEAMS_WEBHOOK_URL: sinks.teamsSink.webhookUrl('security-team'),
  };
}
