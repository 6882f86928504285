import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import PostalMime from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { listenOnLoopback } from '../emulator-common/server';

/**
 * The local mail sink: an SMTP server on 127.0.0.1 that keeps every message it is given, and a
 * small web inbox (`/`, `/messages/{id}`) with the same as JSON (`/api/messages`). Faults can be
 * injected: `POST /api/faults {"count":2,"code":451}` makes the next two messages fail.
 */

export interface ReceivedMail {
  id: string;
  receivedAt: string;
  /** SMTP envelope. */
  envelope: { from: string; to: string[] };
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

export interface MailSinkOptions {
  /** SMTP port (default 2525; 0 picks a free one). */
  smtpPort?: number;
  /** Web inbox port (default 8025; 0 picks a free one). */
  webPort?: number;
}

export interface MailSink {
  readonly smtpHost: string;
  readonly smtpPort: number;
  /** The web inbox, `http://127.0.0.1:{port}`. */
  readonly url: string;
  messages(): ReceivedMail[];
  /** The next `count` messages are refused with SMTP `code` (4xx: try later, 5xx: final). */
  failNext(count: number, code?: number): void;
  clear(): void;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 1024 * 1024;
const KEEP = 500;

function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function addresses(list: PostalMime.Address[] | undefined): string[] {
  return (list ?? []).flatMap((a) => (a.address !== undefined ? [a.address] : (a.group ?? []).map((m) => m.address)));
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · mail sink</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
iframe{width:100%;height:32rem;border:1px solid #888}pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem}</style></head>
<body><main>${body}</main></body></html>`;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'";

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function startMailSink(options: MailSinkOptions = {}): Promise<MailSink> {
  const received: ReceivedMail[] = [];
  let faults: { count: number; code: number } = { count: 0, code: 451 };
  let sequence = 0;

  const smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    banner: 'hsm-access-governor local mail sink',
    size: MAX_MESSAGE_BYTES,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'local' }),
    onData: (stream: SMTPServerDataStream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (faults.count > 0) {
          faults = { ...faults, count: faults.count - 1 };
          const error = Object.assign(new Error(faults.code >= 500 ? 'Mailbox unavailable (injected fault)' : 'Try again later (injected fault)'), { responseCode: faults.code });
          callback(error);
          return;
        }
        const raw = Buffer.concat(chunks);
        PostalMime.parse(raw).then(
          (mail) => {
            const from = session.envelope.mailFrom;
            const headers: Record<string, string> = {};
            for (const header of mail.headers) headers[header.key] ??= header.value;
            received.push({
              id: String(++sequence),
              receivedAt: new Date().toISOString(),
              envelope: { from: from ? from.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
              from: mail.from?.address ?? '',
              to: addresses(mail.to),
              subject: mail.subject ?? '',
              text: mail.text ?? '',
              html: mail.html ?? '',
              headers,
            });
            if (received.length > KEEP) received.shift();
            callback();
          },
          (error: unknown) => callback(error as Error),
        );
      });
    },
  });
  // A client that drops its connection mid-conversation (a killed process, say) is not the sink's failure.
  smtp.on('error', () => undefined);

  const web = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      if (url.pathname === '/api/messages' && method === 'GET') return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(received));
      if (url.pathname === '/api/messages' && method === 'DELETE') {
        received.length = 0;
        return send(res, 204, 'text/plain', '');
      }
      if (url.pathname === '/api/faults' && method === 'POST') {
        const body = await readJson(req);
        faults = { count: Number(body.count ?? 1), code: Number(body.code ?? 451) };
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(faults));
      }
      if (url.pathname === '/' && method === 'GET') {
        const rows = [...received].reverse()
          .map((m) => `<tr><td>${escapeHtml(m.receivedAt)}</td><td>${escapeHtml(m.to.join(', '))}</td><td><a href="/messages/${escapeHtml(m.id)}">${escapeHtml(m.subject || '(no subject)')}</a></td></tr>`)
          .join('\n');
        return send(res, 200, 'text/html; charset=utf-8', page('Inbox', `<h1>Mail sink</h1><p>${received.length} message(s). SMTP on 127.0.0.1:${smtpPort}. JSON: <a href="/api/messages">/api/messages</a></p>
<table><thead><tr><th scope="col">Received</th><th scope="col">To</th><th scope="col">Subject</th></tr></thead><tbody>${rows}</tbody></table>`), { 'content-security-policy': PAGE_CSP });
      }
      const match = /^\/messages\/(\d+)$/.exec(url.pathname);
      const message = match ? received.find((m) => m.id === match[1]) : undefined;
      if (message && method === 'GET') {
        // The HTML part, sandboxed: no script; its links open in the top window, as a mail client's would.
        const srcdoc = `<base target="_top">${message.html}`;
        return send(res, 200, 'text/html; charset=utf-8', page(message.subject, `<p><a href="/">Inbox</a></p><h1>${escapeHtml(message.subject)}</h1>
<p>From ${escapeHtml(message.from)} to ${escapeHtml(message.to.join(', '))}, ${escapeHtml(message.receivedAt)}</p>
${message.html ? `<iframe title="HTML part of the message" sandbox="allow-same-origin allow-top-navigation-by-user-activation allow-popups" srcdoc="${escapeHtml(srcdoc)}"></iframe>` : ''}
<h2>Plain text</h2><pre>${escapeHtml(message.text)}</pre>`), { 'content-security-policy': PAGE_CSP });
      }
      send(res, 404, 'text/plain; charset=utf-8', 'Not found');
    })().catch((error: unknown) => {
      if (!res.headersSent) send(res, 400, 'text/plain; charset=utf-8', `Bad request: ${(error as Error).message}`);
    });
  });

  const smtpPort = await listenOnLoopback(smtp.server, options.smtpPort ?? 2525, smtp);
  let webPort: number;
  try {
    webPort = await listenOnLoopback(web, options.webPort ?? 8025);
  } catch (error) {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    throw error;
  }

  return {
    smtpHost: '127.0.0.1',
    smtpPort,
    url: `http://127.0.0.1:${webPort}`,
    messages: () => [...received],
    failNext: (count, code = 451) => {
      faults = { count, code };
    },
    clear: () => {
      received.length = 0;
    },
    close: async () => {
      web.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => web.close(() => resolve())),
        new Promise<void>((resolve) => smtp.close(() => resolve())),
      ]);
    },
  };
}
