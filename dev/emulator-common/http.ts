import type { IncomingMessage } from 'node:http';
import type { EmulatorResponse } from './responses';

const MAX_BODY_BYTES = 1024 * 1024;

export interface ParsedRequest {
  path: string;
  query: URLSearchParams;
}

/** Raw paths such as `//subscriptions/...` or the HSM's `///providers/...` must not go through `new URL`, which reads `//x` as a host. */
export function splitUrl(rawUrl: string): ParsedRequest {
  const question = rawUrl.indexOf('?');
  return question < 0
    ? { path: rawUrl, query: new URLSearchParams() }
    : { path: rawUrl.slice(0, question), query: new URLSearchParams(rawUrl.slice(question + 1)) };
}

/** A service's own answers to a body too large or not JSON. */
export interface BodyRefusals {
  tooLarge: () => EmulatorResponse;
  notJson: () => EmulatorResponse;
}

/** The JSON body (undefined when empty), or the service's own refusal of a body too large or not JSON. */
export async function readJsonBody(req: IncomingMessage, refusals: BodyRefusals): Promise<{ ok: true; body: unknown } | { ok: false; response: EmulatorResponse }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return { ok: false, response: refusals.tooLarge() };
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return { ok: true, body: undefined };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, response: refusals.notJson() };
  }
}
