/** What an emulator's handlers answer; the server writes it as JSON. */
export interface EmulatorResponse {
  status: number;
  body?: unknown;
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
 * One page of a list, Azure style: `{ value, nextLink }`, the link absolute and keeping the query
 * (filter, api-version) with the offset in `skipTokenName` (`$skiptoken` or `$skipToken`, as each
 * service spells it).
 */
export function pageOf<T>(
  items: T[],
  page: { baseUrl: string; path: string; query: URLSearchParams; pageSize: number; skipTokenName: string; invalidToken: () => EmulatorResponse },
): EmulatorResponse {
  const offset = Number.parseInt(page.query.get(page.skipTokenName) ?? '0', 10);
  if (!Number.isInteger(offset) || offset < 0) return page.invalidToken();
  const body: { value: T[]; nextLink?: string } = { value: items.slice(offset, offset + page.pageSize) };
  if (offset + page.pageSize < items.length) {
    const next = new URLSearchParams(page.query);
    next.set(page.skipTokenName, String(offset + page.pageSize));
    body.nextLink = `${page.baseUrl}${page.path}?${next.toString()}`;
  }
  return { status: 200, body };
}
