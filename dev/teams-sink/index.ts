import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ADAPTIVE_CARDS_LIBRARY, CARD_PAGE_CSP, cardPage } from '../emulator-common/cardPage';
import { listenOnLoopback } from '../emulator-common/server';

/**
 * The local Teams Workflows webhook sink. `POST /webhook/{anything}` takes a message as a Teams
 * Workflows webhook does (`{"type":"message","attachments":[{"contentType":
 * "application/vnd.microsoft.card.adaptive","content":{...}}]}`, answered with 202). `/` shows
 * every received card rendered with the `adaptivecards` library (served from node_modules),
 * `/api/messages` lists them as JSON. Faults: `POST /api/faults {"count":2,"status":429,
 * "retryAfter":1}` answers the next two posts with 429 and Retry-After: 1.
 */

export interface ReceivedCard {
  id: string;
  receivedAt: string;
  /** The webhook path it was posted to, e.g. `/webhook/security-team`. */
  path: string;
  bytes: number;
  payload: { type: string; attachments: Array<{ contentType: string; content: Record<string, unknown> }> };
}

export interface TeamsSinkOptions {
  /** Default 8026; 0 picks a free port. */
  port?: number;
}

export interface TeamsSink {
  readonly url: string;
  /** A webhook URL of this sink (`{url}/webhook/{name}`). */
  webhookUrl(name?: string): string;
  cards(): ReceivedCard[];
  /** Every post received, accepted or not (for retry tests). */
  attempts(): Array<{ at: string; path: string; status: number }>;
  failNext(count: number, status?: number, retryAfterSeconds?: number): void;
  clear(): void;
  close(): Promise<void>;
}

/** The size Teams accepts for a message with an Adaptive Card. */
export const MAX_TEAMS_PAYLOAD_BYTES = 28 * 1024;
const KEEP = 500;

const PAGE = cardPage({
  title: 'Teams webhook sink',
  intro: '<p>Cards posted to <code>/webhook/…</code>, newest first. JSON: <a href="/api/messages">/api/messages</a></p>',
  script: '/render.js',
  extraCss: '\npre{white-space:pre-wrap;font-size:.8rem;background:#f6f6f6;padding:.5rem;overflow-x:auto}',
});

/** Renders each card with the Adaptive Cards JavaScript SDK; Action.OpenUrl opens its URL as Teams would. */
const RENDER_SCRIPT = `'use strict';
(async function () {
  const list = document.getElementById('cards');
  const messages = await (await fetch('/api/messages')).json();
  for (const message of messages.slice().reverse()) {
    const section = document.createElement('section');
    section.className = 'post';
    section.id = 'card-' + message.id;
    section.setAttribute('aria-label', 'Card ' + message.id);
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = message.receivedAt + ' \\u00b7 ' + message.path + ' \\u00b7 ' + message.bytes + ' bytes';
    section.appendChild(meta);
    const holder = document.createElement('div');
    holder.className = 'card';
    for (const attachment of message.payload.attachments) {
      const card = new AdaptiveCards.AdaptiveCard();
      card.onExecuteAction = function (action) {
        if (action.getJsonTypeName() === 'Action.OpenUrl' && action.url) window.location.href = action.url;
      };
      card.parse(attachment.content);
      const rendered = card.render();
      if (rendered) holder.appendChild(rendered);
    }
    section.appendChild(holder);
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'JSON';
    const pre = document.createElement('pre');
    pre.textContent = JSON.stringify(message.payload, null, 2);
    details.appendChild(summary);
    details.appendChild(pre);
    section.appendChild(details);
    list.appendChild(section);
  }
  document.body.setAttribute('data-rendered', String(messages.length));
})();
`;


function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** What a Teams Workflows webhook would refuse, or undefined. */
function problemWith(payload: unknown): string | undefined {
  const message = payload as ReceivedCard['payload'] | null;
  if (!message || typeof message !== 'object' || message.type !== 'message') return "type must be 'message'";
  if (!Array.isArray(message.attachments) || message.attachments.length === 0) return 'attachments must hold a card';
  for (const attachment of message.attachments) {
    if (attachment?.contentType !== 'application/vnd.microsoft.card.adaptive') return 'contentType must be application/vnd.microsoft.card.adaptive';
    const content = attachment.content as { type?: unknown; version?: unknown; body?: unknown } | undefined;
    if (!content || content.type !== 'AdaptiveCard' || typeof content.version !== 'string' || !Array.isArray(content.body)) return 'content must be an AdaptiveCard with a version and a body';
  }
  return undefined;
}

export async function startTeamsSink(options: TeamsSinkOptions = {}): Promise<TeamsSink> {
  const cards: ReceivedCard[] = [];
  const attempts: Array<{ at: string; path: string; status: number }> = [];
  let faults = { count: 0, status: 429, retryAfter: 1 };
  let sequence = 0;
  let library: Buffer | undefined;

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      if (url.pathname.startsWith('/webhook') && method === 'POST') {
        const answer = (status: number, body: string, headers: Record<string, string> = {}): void => {
          attempts.push({ at: new Date().toISOString(), path: url.pathname, status });
          send(res, status, 'text/plain; charset=utf-8', body, headers);
        };
        const body = await readBody(req, MAX_TEAMS_PAYLOAD_BYTES);
        if (!body) return answer(413, `The message is larger than ${MAX_TEAMS_PAYLOAD_BYTES} bytes`);
        if (faults.count > 0) {
          faults = { ...faults, count: faults.count - 1 };
          return answer(faults.status, 'Injected fault', faults.status === 429 || faults.status === 503 ? { 'retry-after': String(faults.retryAfter) } : {});
        }
        let payload: unknown;
        try {
          payload = JSON.parse(body.toString('utf8'));
        } catch {
          return answer(400, 'The body is not JSON');
        }
        const problem = problemWith(payload);
        if (problem) return answer(400, problem);
        cards.push({ id: String(++sequence), receivedAt: new Date().toISOString(), path: url.pathname, bytes: body.length, payload: payload as ReceivedCard['payload'] });
        if (cards.length > KEEP) cards.shift();
        return answer(202, '');
      }
      if (url.pathname === '/api/messages' && method === 'GET') return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(cards));
      if (url.pathname === '/api/messages' && method === 'DELETE') {
        cards.length = 0;
        attempts.length = 0;
        return send(res, 204, 'text/plain', '');
      }
      if (url.pathname === '/api/attempts' && method === 'GET') return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(attempts));
      if (url.pathname === '/api/faults' && method === 'POST') {
        const text = (await readBody(req, 4096))?.toString('utf8') ?? '';
        const body = (text ? JSON.parse(text) : {}) as { count?: number; status?: number; retryAfter?: number };
        faults = { count: Number(body.count ?? 1), status: Number(body.status ?? 429), retryAfter: Number(body.retryAfter ?? 1) };
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(faults));
      }
      if (url.pathname === '/' && method === 'GET') return send(res, 200, 'text/html; charset=utf-8', PAGE, { 'content-security-policy': CARD_PAGE_CSP });
      if (url.pathname === '/render.js' && method === 'GET') return send(res, 200, 'text/javascript; charset=utf-8', RENDER_SCRIPT);
      if (url.pathname === '/adaptivecards.min.js' && method === 'GET') {
        library ??= readFileSync(ADAPTIVE_CARDS_LIBRARY);
        return send(res, 200, 'text/javascript; charset=utf-8', library);
      }
      send(res, 404, 'text/plain; charset=utf-8', 'Not found');
    })().catch((error: unknown) => {
      if (!res.headersSent) send(res, 400, 'text/plain; charset=utf-8', `Bad request: ${(error as Error).message}`);
    });
  });

  const url = `http://127.0.0.1:${await listenOnLoopback(server, options.port ?? 8026)}`;

  return {
    url,
    webhookUrl: (name = 'default') => `${url}/webhook/${encodeURIComponent(name)}`,
    cards: () => [...cards],
    attempts: () => [...attempts],
    failNext: (count, status = 429, retryAfterSeconds = 1) => {
      faults = { count, status, retryAfter: retryAfterSeconds };
    },
    clear: () => {
      cards.length = 0;
      attempts.length = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
