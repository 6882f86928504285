import type { Transporter } from 'nodemailer';
import { oneLineText, type MessageThread } from '../../domain';
import { DeliveryFailure, type MailPort, type OutgoingNotification } from '../../services/notificationPorts';
import type { SmtpConfig } from '../config';
import { escapeHtml } from '../../services/html';
import { traceDependency } from '../telemetry';

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

export interface ThreadHeaders {
  messageId: string;
  inReplyTo?: string;
  references?: string;
}

/** The sender's domain: what follows the last `@` of SMTP_FROM (`name@domain` or `Name <name@domain>`). */
export function senderDomain(from: string): string {
  return from.slice(from.lastIndexOf('@') + 1).replace(/>\s*$/, '').trim().toLowerCase();
}

/** RFC 5322 id-left characters only: a request id or HSM name cannot break the header. */
const idPart = (text: string): string => text.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * Message-ID, In-Reply-To and References of one email. The thread's first message has an id derived
 * from the thread (the request id) and the sender's domain alone, so every later message can refer
 * to it without any stored state; each message has its own id, the same on every try.
 */
export function threadHeaders(thread: MessageThread, domain: string): ThreadHeaders {
  const root = `<hsm-access.${idPart(thread.id)}@${domain}>`;
  if (thread.first) return { messageId: root };
  return { messageId: `<hsm-access.${idPart(thread.id)}.${idPart(thread.message)}@${domain}>`, inReplyTo: root, references: root };
}

/** One line per header field at most: no CR/LF from request data reaches the subject. */
function oneLine(text: string): string {
  return oneLineText(text).slice(0, 250);
}

/** The same facts, flags and review link as the Teams card, as plain text and as simple, accessible HTML. */
export function emailContentFor(notification: OutgoingNotification): EmailContent {
  const flags = notification.riskFlags.length > 0 ? `Risk: ${oneLineText(notification.riskFlags.join(' · '))}` : '';
  const width = Math.max(...notification.facts.map((fact) => fact.title.length));
  const text = [
    oneLineText(notification.summary),
    '',
    ...(flags ? [flags, ''] : []),
    // One line per fact: a line break in what someone wrote cannot pose as a fact or a link of ours.
    ...notification.facts.map((fact) => `${`${fact.title}:`.padEnd(width + 2)}${oneLineText(fact.value)}`),
    '',
    notification.link ? `${notification.linkLabel}: ${notification.link}` : 'Open the request in the HSM access governor.',
    '',
    notification.footer ?? `Request ${notification.requestId}`,
  ].join('\n');
  const rows = notification.facts
    .map((fact) => `<tr><th scope="row" style="text-align:left;padding:4px 12px 4px 0;vertical-align:top;color:#333">${escapeHtml(fact.title)}</th><td style="padding:4px 0;white-space:pre-wrap">${escapeHtml(fact.value)}</td></tr>`)
    .join('\n');
  const button = notification.link
    ? `<p><a href="${escapeHtml(notification.link)}" style="display:inline-block;background:#0b5cad;color:#ffffff;padding:10px 18px;border-radius:4px;text-decoration:none;font-weight:bold">${escapeHtml(notification.linkLabel)}</a></p>
<p style="font-size:13px;color:#444">Or open: ${escapeHtml(notification.link)}</p>`
    : '<p>Open the request in the HSM access governor.</p>';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(notification.title)}</title></head>
<body style="font-family:Segoe UI,system-ui,sans-serif;color:#1b1b1b;background:#ffffff;max-width:640px;margin:0 auto;padding:16px">
<h1 style="font-size:20px">${escapeHtml(notification.title)}</h1>
<p>${escapeHtml(notification.summary)}</p>
${flags ? `<p style="background:#fff4ce;border-left:4px solid #8a6100;padding:8px 12px;font-weight:bold">${escapeHtml(flags)}</p>` : ''}
<table role="presentation" style="border-collapse:collapse">
${rows}
</table>
${button}
<p style="font-size:12px;color:#555">${escapeHtml(notification.footer ?? `Request ${notification.requestId}. The link only identifies the request: you sign in before you can see or decide it.`)}</p>
</body></html>`;
  return { subject: oneLine(notification.subject), text, html };
}

/** SMTP reply codes 4xx and dropped connections may pass later; 5xx will not. */
function failureOf(error: unknown): DeliveryFailure {
  const details = error as { responseCode?: number; code?: string; message?: string };
  const code = details.responseCode;
  const message = `${code ? `SMTP ${code}: ` : ''}${details.message ?? String(error)}`.slice(0, 300);
  if (code !== undefined) return new DeliveryFailure(message, code >= 400 && code < 500);
  return new DeliveryFailure(message, details.code !== 'EAUTH' && details.code !== 'EENVELOPE');
}

/** MailPort over SMTP with nodemailer, configured by the SMTP_* app settings. */
export class SmtpMailer implements MailPort {
  private transport?: Transporter;
  private readonly domain: string;

  constructor(private readonly config: SmtpConfig) {
    this.domain = senderDomain(config.from);
  }

  /** nodemailer is loaded with the first mail, not at cold start. */
  private get transporter(): Transporter {
    const config = this.config;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    this.transport ??= (require('nodemailer') as typeof import('nodemailer')).createTransport({
      host: config.host,
      port: config.port,
      secure: config.secure,
      // Off loopback, never send mail (or a password) in the clear.
      requireTLS: !config.secure && !config.loopback,
      ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
    return this.transport;
  }

  async send(address: string, notification: OutgoingNotification): Promise<void> {
    const content = emailContentFor(notification);
    const thread = threadHeaders(notification.thread, this.domain);
    try {
      const smtp = { 'server.address': this.config.host, 'server.port': this.config.port, 'network.protocol.name': 'smtp' };
      await traceDependency(`SMTP ${this.config.host}`, smtp, () => this.transporter.sendMail({
        from: this.config.from,
        to: address,
        subject: content.subject,
        text: content.text,
        html: content.html,
        messageId: thread.messageId,
        ...(thread.inReplyTo ? { inReplyTo: thread.inReplyTo, references: thread.references } : {}),
        headers: { 'X-HSM-Governor-Request': notification.requestId, 'X-HSM-Governor-Kind': notification.kind },
      }));
    } catch (error) {
      throw failureOf(error);
    }
  }
}
