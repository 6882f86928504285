import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';

/**
 * One outgoing webhook call. Every call uses a fresh connection (no keep-alive), so closing the
 * emulator never leaves sockets behind and a receiver that restarts is reached anew.
 */

export interface WebhookResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface WebhookRequest {
  method: 'POST' | 'OPTIONS';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal: AbortSignal;
}

/** A receiver's answer beyond this is not needed: only validation responses are read. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const agents = { http: new HttpAgent({ keepAlive: false }), https: new HttpsAgent({ keepAlive: false }) };

export function sendWebhook(call: WebhookRequest): Promise<WebhookResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = call.url.protocol === 'https:';
    const body = call.body === undefined ? undefined : Buffer.from(call.body, 'utf8');
    const headers: Record<string, string> = { ...call.headers, connection: 'close', 'content-length': String(body?.length ?? 0) };
    const send = isHttps ? httpsRequest : httpRequest;
    const req = send(call.url, { method: call.method, headers, agent: isHttps ? agents.https : agents.http, signal: call.signal, timeout: call.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${call.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function describeFailure(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
