/**
 * Which audit records an auditor asks for: who (acted, or was the grantee), what (an action or a
 * family such as `request`), which key or scope, which request, and a time range (`from`
 * inclusive, `to` exclusive). Pure: the ledger pushes what its store can filter to the store and
 * applies `matchesAuditFilter` to the rest.
 */
import type { AuditRecord, ChainedAuditRecord } from './audit';
import type { Policy } from './policy/types';

export interface AuditFilter {
  readonly from?: string;
  readonly to?: string;
  /** An actor or grantee: object id (lower case) or a system actor such as `system:reconcile-timer`. */
  readonly who?: string;
  /** `request.approved`, or `request` for every `request.*` action. */
  readonly action?: string;
  /** A canonical scope, e.g. `/keys/release-signing-key`. */
  readonly scope?: string;
  readonly requestId?: string;
}

/** The largest page one asks for, and the default. */
export const AUDIT_PAGE_MAX = 500;
export const AUDIT_PAGE_DEFAULT = 50;

const detail = (record: AuditRecord, name: string): string | undefined => {
  const value = record.details?.[name];
  return typeof value === 'string' ? value : undefined;
};

export function matchesAuditFilter(record: AuditRecord, filter: AuditFilter): boolean {
  if (filter.from && record.at < filter.from) return false;
  if (filter.to && record.at >= filter.to) return false;
  if (filter.requestId && record.requestId !== filter.requestId) return false;
  if (filter.action && record.action !== filter.action && !record.action.startsWith(`${filter.action}.`)) return false;
  if (filter.who) {
    const who = filter.who.toLowerCase();
    if (record.actor.toLowerCase() !== who && detail(record, 'principalId')?.toLowerCase() !== who) return false;
  }
  if (filter.scope && detail(record, 'scope')?.toLowerCase() !== filter.scope.toLowerCase()) return false;
  return true;
}

/** A page of records already in order, for stores that filter in memory: the continuation is the offset of the next record. */
export function auditPageOf(records: readonly ChainedAuditRecord[], filter: AuditFilter, limit: number, continuation?: string): { records: ChainedAuditRecord[]; continuation?: string } {
  const matching = records.filter((r) => matchesAuditFilter(r, filter));
  const start = continuation ? Number(continuation) : 0;
  const page = matching.slice(start, start + limit);
  return { records: page, ...(start + limit < matching.length ? { continuation: String(start + limit) } : {}) };
}

export type AuditQueryInput = (name: 'from' | 'to' | 'tz' | 'who' | 'action' | 'key' | 'scope' | 'requestId' | 'limit' | 'continuation') => string | null | undefined;

export type ParsedAuditQuery =
  | { readonly ok: true; readonly filter: AuditFilter; readonly limit?: number; readonly continuation?: string }
  | { readonly ok: false; readonly detail: string };

const ZONED = /(Z|[+-]\d{2}:?\d{2})$/i;
const WALL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/** How far `zone` is ahead of UTC at the instant `utcMs`, in milliseconds. */
function zoneOffsetMs(zone: string, utcMs: number): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(utcMs)).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) - Math.floor(utcMs / 1000) * 1000;
}

/** Whether the runtime knows the IANA time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * An instant from ISO 8601 text: with `Z` or an offset as given; without one (a form's
 * `datetime-local`, or a bare date) as the wall time of `zone` (UTC when none). Undefined when it is not one.
 */
export function instantIn(text: string, zone = 'UTC'): string | undefined {
  if (ZONED.test(text)) {
    if (!/^\d{4}-\d{2}-\d{2}[T ]\d/.test(text)) return undefined;
    const parsed = Date.parse(text);
    return Number.isNaN(parsed) ? undefined : new Date(parsed).toISOString();
  }
  const wall = WALL.exec(text);
  if (!wall) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = wall;
  const asUtc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(asUtc);
  if (Number.isNaN(asUtc) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const first = asUtc - zoneOffsetMs(zone, asUtc);
  return new Date(asUtc - zoneOffsetMs(zone, first)).toISOString();
}

/** The wall time of an instant in `zone`, as a `datetime-local` input shows it (`YYYY-MM-DDTHH:mm`). */
export function wallTimeIn(iso: string, zone = 'UTC'): string {
  const ms = Date.parse(iso);
  return new Date(ms + zoneOffsetMs(zone, ms)).toISOString().slice(0, 16);
}

/**
 * Reads the filter of `GET /api/audit` and of the portal's audit page. `who` is an object id, a
 * policy alias or a system actor; `key` is shorthand for the scope `/keys/{key}`.
 */
export function parseAuditQuery(get: AuditQueryInput, policy: Policy): ParsedAuditQuery {
  const text = (name: Parameters<AuditQueryInput>[0]): string | undefined => {
    const value = get(name)?.trim();
    return value ? value : undefined;
  };
  const zone = text('tz') ?? 'UTC';
  if (!isTimeZone(zone)) return { ok: false, detail: `tz '${zone}' is not a time zone (an IANA name such as Europe/Berlin)` };
  const range: { from?: string; to?: string } = {};
  for (const name of ['from', 'to'] as const) {
    const value = text(name);
    if (value === undefined) continue;
    const instant = instantIn(value, zone);
    if (!instant) return { ok: false, detail: 'from and to must be ISO 8601 date-times' };
    range[name] = instant;
  }
  for (const name of ['who', 'action', 'key', 'scope', 'requestId'] as const) {
    if ((text(name)?.length ?? 0) > 200) return { ok: false, detail: `${name} is longer than 200 characters` };
  }
  const whoText = text('who');
  const alias = whoText ? policy.principals[whoText] : undefined;
  const who = alias ? alias.objectId : whoText?.toLowerCase();
  const key = text('key');
  if (key !== undefined && !/^[0-9A-Za-z-]{1,127}$/.test(key)) return { ok: false, detail: 'key must be a key name (letters, digits and dashes)' };
  const scope = key !== undefined ? `/keys/${key}` : text('scope');
  const action = text('action');
  const requestId = text('requestId');
  const limitText = text('limit');
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX)) return { ok: false, detail: `limit must be a whole number from 1 to ${AUDIT_PAGE_MAX}` };
  const continuation = text('continuation');
  if (continuation !== undefined && !/^\d{1,12}$/.test(continuation)) return { ok: false, detail: 'continuation must be the value a previous page gave' };
  return {
    ok: true,
    filter: { ...range, ...(who ? { who } : {}), ...(action ? { action } : {}), ...(scope ? { scope } : {}), ...(requestId ? { requestId } : {}) },
    ...(limit !== undefined ? { limit } : {}),
    ...(continuation !== undefined ? { continuation } : {}),
  };
}

export const AUDIT_CSV_HEADER = ['seq', 'at', 'actor', 'action', 'requestId', 'from', 'to', 'reason', 'role', 'scope', 'principalId', 'hsm', 'hsmRequestId', 'details', 'hash'] as const;

/** The CSV rows of audit records (write them with `toCsv(AUDIT_CSV_HEADER, rows)`). */
export function auditCsvRows(records: readonly ChainedAuditRecord[]): unknown[][] {
  return records.map((r) => [r.seq, r.at, r.actor, r.action, r.requestId, r.from, r.to, r.reason, detail(r, 'role'), detail(r, 'scope'), detail(r, 'principalId'), detail(r, 'hsm'), r.hsmRequestId, r.details, r.hash]);
}
