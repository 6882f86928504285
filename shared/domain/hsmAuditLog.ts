/**
 * The Managed HSM's `AuditEvent` diagnostic log as Azure Monitor writes it to a storage account:
 * container `insights-logs-auditevent`, one blob per hour
 * (`resourceId=/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/{name}/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`),
 * one JSON record per line, appended through the hour. Field names are those of Microsoft's
 * "Managed HSM logging" page: `time`, `resourceId`, `operationName`, `resultType`, `httpStatusCode`,
 * `identity` (a JSON string whose `claim` holds the caller's object id), `requestUri`, `correlationId`.
 */

export const AUDIT_LOG_CONTAINER = 'insights-logs-auditevent';

export type AuditOperationKind = 'key-operation' | 'role-assignment-write' | 'role-assignment-delete' | 'role-definition-change' | 'other';

export interface HsmAuditRecord {
  readonly time: string;
  readonly resourceId: string;
  readonly operationName: string;
  readonly resultType: string;
  readonly httpStatusCode: number;
  /** The caller's object id (`oid`), or undefined for unauthenticated calls (401). */
  readonly principalId: string | undefined;
  readonly appId: string | undefined;
  readonly upn: string | undefined;
  readonly requestUri: string;
  readonly correlationId: string;
  readonly callerIpAddress: string | undefined;
  readonly kind: AuditOperationKind;
  /** The key the call named, for key operations (`/keys/{name}/...`). */
  readonly keyName: string | undefined;
  /** The local RBAC scope of a role-assignment call (`/`, `/keys`, `/keys/{name}`). */
  readonly scope: string | undefined;
  /** The role assignment's name, for role-assignment calls. */
  readonly assignmentName: string | undefined;
}

export type ParsedLine = { readonly record: HsmAuditRecord } | { readonly refused: string };

/** Cryptographic key operations whose use is evidence of a grant being exercised. */
export const KEY_USE_OPERATIONS = new Set(['KeySign', 'KeyVerify', 'KeyEncrypt', 'KeyDecrypt', 'KeyWrap', 'KeyUnwrap', 'KeyGet', 'KeyCreate']);

const RBAC_URI = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(?:\/([^/?]+))?/i;
const KEY_URI = /^\/keys\/([^/?]+)/i;

type Json = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function claimsOf(identity: unknown): { principalId?: string; appId?: string; upn?: string } {
  let parsed: unknown = identity;
  if (typeof identity === 'string') {
    try {
      parsed = JSON.parse(identity);
    } catch {
      return {};
    }
  }
  const claim = ((parsed as Json | undefined)?.claim ?? {}) as Json;
  const msIdentity = ((claim.http_schemas_microsoft_com_identity as Json | undefined)?.claims ?? {}) as Json;
  const wsIdentity = ((claim.http_schemas_xmlsoap_org_ws_2005_05_identity as Json | undefined)?.claims ?? {}) as Json;
  const principalId = text(msIdentity.objectidentifier) ?? text(claim.oid);
  const appId = text(claim.appid);
  const upn = text(wsIdentity.upn);
  return { ...(principalId ? { principalId: principalId.toLowerCase() } : {}), ...(appId ? { appId } : {}), ...(upn ? { upn } : {}) };
}

function pathOf(requestUri: string): string {
  try {
    return decodeURIComponent(new URL(requestUri).pathname);
  } catch {
    return '';
  }
}

function scopeOf(prefix: string): string {
  const trimmed = `/${prefix.replace(/^\/+/, '')}`.replace(/(.)\/+$/, '$1');
  return trimmed;
}

/**
 * What a call did, from its path (the operation names of role-assignment calls are not listed by
 * Microsoft, so the path and the verb in the operation name decide, never the name alone).
 */
function classify(operationName: string, path: string): Pick<HsmAuditRecord, 'kind' | 'keyName' | 'scope' | 'assignmentName'> {
  const rbac = RBAC_URI.exec(path);
  if (rbac) {
    const scope = scopeOf(rbac[1]);
    const assignmentName = rbac[3];
    if (rbac[2].toLowerCase() === 'roledefinitions') {
      const changes = /(Create|Update|Set|Delete)$/i.test(operationName);
      return { kind: changes ? 'role-definition-change' : 'other', keyName: undefined, scope, assignmentName: undefined };
    }
    const kind: AuditOperationKind = /Delete$/i.test(operationName) ? 'role-assignment-delete' : /(Create|Update|Set|Put)$/i.test(operationName) ? 'role-assignment-write' : 'other';
    return { kind, keyName: undefined, scope, assignmentName };
  }
  const key = KEY_URI.exec(path);
  if (key && KEY_USE_OPERATIONS.has(operationName)) return { kind: 'key-operation', keyName: key[1].toLowerCase(), scope: `/keys/${key[1].toLowerCase()}`, assignmentName: undefined };
  return { kind: 'other', keyName: key?.[1]?.toLowerCase(), scope: undefined, assignmentName: undefined };
}

/** One line of a PT1H.json blob. A line that is not an AuditEvent record is refused with a reason, never thrown. */
export function parseAuditLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { refused: 'not JSON' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { refused: 'not a JSON object' };
  const raw = value as Json;
  const time = text(raw.time);
  const operationName = text(raw.operationName);
  const requestUri = text(raw.requestUri) ?? '';
  if (!time || Number.isNaN(Date.parse(time))) return { refused: 'no valid time' };
  if (!operationName) return { refused: 'no operationName' };
  if (raw.category !== undefined && raw.category !== 'AuditEvent') return { refused: `category ${String(raw.category)} is not AuditEvent` };
  const status = Number(raw.httpStatusCode);
  const claims = claimsOf(raw.identity);
  return {
    record: {
      time: new Date(time).toISOString(),
      resourceId: text(raw.resourceId) ?? '',
      operationName,
      resultType: text(raw.resultType) ?? '',
      httpStatusCode: Number.isInteger(status) ? status : 0,
      principalId: claims.principalId,
      appId: claims.appId,
      upn: claims.upn,
      requestUri,
      correlationId: text(raw.correlationId) ?? '',
      callerIpAddress: text(raw.callerIpAddress),
      ...classify(operationName, pathOf(requestUri)),
    },
  };
}

export interface CompleteLines {
  readonly lines: ReadonlyArray<{ readonly offset: number; readonly text: string }>;
  /** Bytes consumed: the offset just past the last complete line (a partial last line waits for its newline). */
  readonly consumed: number;
}

/**
 * The complete lines of a chunk read from `baseOffset`. A line still being appended (no newline yet)
 * is left for the next read, so no record is read half.
 */
export function completeLines(chunk: Uint8Array, baseOffset: number): CompleteLines {
  const lines: Array<{ offset: number; text: string }> = [];
  const decoder = new TextDecoder('utf-8');
  let start = 0;
  for (let index = 0; index < chunk.length; index++) {
    if (chunk[index] !== 0x0a) continue;
    const body = decoder.decode(chunk.subarray(start, index)).replace(/\r$/, '').trim();
    if (body !== '') lines.push({ offset: baseOffset + start, text: body });
    start = index + 1;
  }
  return { lines, consumed: start };
}

export interface AuditBlobName {
  readonly resourceId: string;
  readonly hour: string;
}

const BLOB_NAME = /^resourceId=(\/SUBSCRIPTIONS\/[^/]+\/RESOURCEGROUPS\/[^/]+\/PROVIDERS\/MICROSOFT\.KEYVAULT\/MANAGEDHSMS\/[^/]+)\/y=(\d{4})\/m=(\d{2})\/d=(\d{2})\/h=(\d{2})\/m=00\/PT1H\.json$/i;

/** The HSM and hour a blob holds, or undefined for anything else in the container. */
export function parseAuditBlobName(name: string): AuditBlobName | undefined {
  const match = BLOB_NAME.exec(name);
  if (!match) return undefined;
  const [, resourceId, y, m, d, h] = match;
  return { resourceId: resourceId.toUpperCase(), hour: `${y}-${m}-${d}T${h}:00:00Z` };
}

/** The blob an HSM's record of `time` lands in. */
export function auditBlobName(resourceId: string, time: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `resourceId=${resourceId.toUpperCase()}/y=${time.getUTCFullYear()}/m=${two(time.getUTCMonth() + 1)}/d=${two(time.getUTCDate())}/h=${two(time.getUTCHours())}/m=00/PT1H.json`;
}
