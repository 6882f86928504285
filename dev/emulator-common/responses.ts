import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** What an emulator's handlers answer; the server writes it as JSON. */
export interface EmulatorResponse {
  status: number;
  body?: unknown;
  /** Written as is instead of `body` as JSON, for the few answers a service sends as plain text. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** The error envelope Azure services share, `{"error":{"code","message"}}`. */
export function errorResponse(status: number, code: string, message: string, headers?: Record<string, string>): EmulatorResponse {
  return { status, body: { error: { code, message } }, ...(headers ? { headers } : {}) };
}

export function ok(body: unknown, status = 200): EmulatorResponse {
  return { status, body };
}

/**
 * Writes an answer: its body, `Content-Length`, the headers the service puts on every answer
 * (`serviceHeaders` sees the body, since some depend on whether there is one), then the answer's own.
 */
export function writeResponse(res: ServerResponse, response: EmulatorResponse, serviceHeaders: (body: string) => OutgoingHttpHeaders): void {
  const body = response.rawBody ?? (response.body === undefined ? '' : JSON.stringify(response.body));
  res.writeHead(response.status, { ...serviceHeaders(body), 'Content-Length': Buffer.byteLength(body), ...response.headers });
  res.end(body);
}

/**
 * One page of a list, Azure style: `{ value, nextLink }`, the link absolute and keeping the query
 * (filter, api-version) with the offset in `skipTokenName` (`$skiptoken` or `$skipToken`, as each
 * service spells it). Only the page's items go through `render` (a 5,000-key list is asked for 200 times).
 */
export function pageOf<S, T = S>(
  items: readonly S[],
  page: {
    baseUrl: string;
    path: string;
    query: URLSearchParams;
    pageSize: number;
    skipTokenName: string;
    invalidToken: () => EmulatorResponse;
    render?: (item: S) => T;
  },
): EmulatorResponse {
  const offset = Number.parseInt(page.query.get(page.skipTokenName) ?? '0', 10);
  if (!Number.isInteger(offset) || offset < 0) return page.invalidToken();
  const onPage = items.slice(offset, offset + page.pageSize);
  const body: { value: Array<S | T>; nextLink?: string } = { value: page.render ? onPage.map(page.render) : onPage };
  if (offset + page.pageSize < items.length) {
    const next = new URLSearchParams(page.query);
    next.set(page.skipTokenName, String(offset + page.pageSize));
    body.nextLink = `${page.baseUrl}${page.path}?${next.toString()}`;
  }
  return { status: 200, body };
}
