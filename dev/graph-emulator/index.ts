import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken, emulatorTokenVerifier, type TokenIssuerOptions } from '../emulator-common/auth';
import { FaultInjector, faultSettingsFromVariable, validateFaultSettings, type FaultSettingName, type FaultSettings } from '../emulator-common/faults';
import { splitUrl, type BodyRefusals, type ParsedRequest } from '../emulator-common/http';
import { writeResponse, type EmulatorResponse } from '../emulator-common/responses';
import { closeServer, faultsEndpoint, RequestLog, serveEmulatorRequest, startEmulatorServer, type EmulatorRequestHandlers, type RequestRecord } from '../emulator-common/server';
import { emulatorTlsMaterial } from '../emulator-common/tls';
import { Directory, type DirectoryGroup, type DirectoryPrincipal } from './directory';

/**
 * A local Microsoft Graph v1.0 for the membership calls the app makes (HTTPS, Microsoft Entra
 * bearer tokens of the local identity provider for `https://graph.microsoft.com`, application
 * permissions from the token's `roles` or as configured per principal):
 *
 * - `GET /v1.0/users/{id}/transitiveMemberOf[/microsoft.graph.group]`
 * - `POST /v1.0/users/{id}/getMemberObjects` `{"securityEnabledOnly": bool}`
 * - `GET /v1.0/groups/{id}/transitiveMembers[/microsoft.graph.user]`
 *
 * with `$select`, `$top` (1-999, default 100), paging by `@odata.nextLink` (`$skiptoken`), `$count`
 * (with `ConsistencyLevel: eventual`), Graph's error envelope and the limited view of objects the
 * caller may not read (only `@odata.type` and `id`). Memberships are the Contoso personas'
 * (dev/personas.ts); `POST /_emulator/groups` adds groups (nested ones, hundreds for an overage).
 */

export type GraphFaultSettings = FaultSettings;
const GRAPH_FAULT_SETTINGS: readonly FaultSettingName[] = ['throttle', 'unavailable', 'drop', 'forbidden', 'latencyMs', 'latencyRate', 'retryAfterSeconds', 'next'];
const validateFaults = (input: unknown): GraphFaultSettings => validateFaultSettings(input, GRAPH_FAULT_SETTINGS);

/** Graph's own application id is an audience its tokens may name, besides its URL. */
export const GRAPH_AUDIENCES = ['https://graph.microsoft.com', '00000003-0000-0000-c000-000000000000'];
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 999;
const SUPPORTED_QUERY = new Set(['$select', '$top', '$skiptoken', '$count']);

const READ_MEMBERSHIPS = ['User.Read.All', 'GroupMember.Read.All', 'Group.Read.All', 'Directory.Read.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'];
const READ_GROUP_MEMBERS = ['GroupMember.Read.All', 'Group.Read.All', 'GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const READ_GROUPS = ['GroupMember.Read.All', 'Group.Read.All', 'GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const READ_USERS = ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const GET_MEMBER_OBJECTS = ['User.Read.All', 'Directory.Read.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'];

export interface GraphEmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Keeps the TLS certificate and CA here across restarts. */
  dataDir?: string;
  /** Whose tokens are accepted. */
  entra: TokenIssuerOptions;
  /** Application permissions per principal object id (the app roles an admin granted it), besides those in its token's `roles`. */
  applicationPermissions?: Record<string, readonly string[]>;
  faults?: GraphFaultSettings;
}

export interface GraphEmulator {
  readonly url: string;
  readonly caPem: string;
  readonly caFile: string;
  /** Adds or replaces a group. */
  putGroup(group: { id: string; displayName?: string; securityEnabled?: boolean; mailEnabled?: boolean; members: string[] }): void;
  requests(): RequestRecord[];
  setFaults(settings: GraphFaultSettings): void;
  close(): Promise<void>;
}

interface Caller {
  objectId: string;
  permissions: Set<string>;
}

function graphError(status: number, code: string, message: string, clientRequestId: string, requestId: string, headers?: Record<string, string>): EmulatorResponse {
  return {
    status,
    body: { error: { code, message, innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ''), 'request-id': requestId, 'client-request-id': clientRequestId } } },
    ...(headers ? { headers } : {}),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const hasAny = (caller: Caller, permissions: readonly string[]): boolean => permissions.some((p) => caller.permissions.has(p));

const skipToken = (offset: number): string => Buffer.from(`offset:${offset}`, 'utf8').toString('base64url');
function offsetOf(token: string | null): number | undefined {
  if (token === null) return 0;
  const match = /^offset:(\d{1,7})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

export async function startGraphEmulator(options: GraphEmulatorOptions): Promise<GraphEmulator> {
  const directory = Directory.contoso();
  const verify = emulatorTokenVerifier(options.entra, GRAPH_AUDIENCES);
  const faults = new FaultInjector(options.faults ? validateFaults(options.faults) : faultSettingsFromVariable('GRAPH_EMULATOR_FAULTS', GRAPH_FAULT_SETTINGS), validateFaults);
  const log = new RequestLog<RequestRecord>();
  const { material, temporaryDir } = await emulatorTlsMaterial(options.dataDir, 'Microsoft Graph', 'graph-emulator-');
  const granted = new Map(Object.entries(options.applicationPermissions ?? {}).map(([oid, permissions]) => [oid.toLowerCase(), permissions]));
  let baseUrl = '';

  // Each request's ids, for its error bodies and headers.
  const ids = new WeakMap<IncomingMessage, { requestId: string; clientRequestId: string }>();
  const idsOf = (req: IncomingMessage): { requestId: string; clientRequestId: string } => {
    let found = ids.get(req);
    if (!found) {
      const requestId = randomUUID();
      found = { requestId, clientRequestId: header(req, 'client-request-id') ?? requestId };
      ids.set(req, found);
    }
    return found;
  };
  const error = (req: IncomingMessage, status: number, code: string, message: string, headers?: Record<string, string>): EmulatorResponse => {
    const { requestId, clientRequestId } = idsOf(req);
    return graphError(status, code, message, clientRequestId, requestId, headers);
  };
  const denied = (req: IncomingMessage): EmulatorResponse => error(req, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  const notFound = (req: IncomingMessage, id: string): EmulatorResponse => error(req, 404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);

  const bodyRefusals = (): BodyRefusals => ({
    tooLarge: () => ({ status: 413, body: { error: { code: 'RequestEntityTooLarge', message: 'The request body is too large.' } } }),
    notJson: () => ({ status: 400, body: { error: { code: 'BadRequest', message: 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.' } } }),
  });

  async function authenticate(req: IncomingMessage): Promise<{ caller: Caller } | { refusal: EmulatorResponse }> {
    const challenge = { 'WWW-Authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"' };
    const token = bearerToken(header(req, 'authorization'));
    if (!token) return { refusal: error(req, 401, 'InvalidAuthenticationToken', 'Access token is empty.', challenge) };
    try {
      const claims = await verify(token);
      if (typeof claims.oid !== 'string') return { refusal: error(req, 401, 'InvalidAuthenticationToken', 'Access token validation failure.', challenge) };
      const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
      const objectId = claims.oid.toLowerCase();
      return { caller: { objectId, permissions: new Set([...roles, ...(granted.get(objectId) ?? [])]) } };
    } catch (failure) {
      const { code, claim } = failure as { code?: string; claim?: string };
      const message = code === 'ERR_JWT_EXPIRED' ? 'Lifetime validation failed, the token is expired.'
        : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud' ? 'Access token validation failure. Invalid audience.'
          : 'Access token validation failure.';
      return { refusal: error(req, 401, 'InvalidAuthenticationToken', message, challenge) };
    }
  }

  /** A page of `items` as Graph lists a collection, or the refusal of its query. */
  function listed(req: IncomingMessage, parsed: ParsedRequest, context: string, items: Array<Record<string, unknown>>): EmulatorResponse {
    const { query } = parsed;
    for (const name of query.keys()) {
      if (!SUPPORTED_QUERY.has(name)) return error(req, 400, 'Request_UnsupportedQuery', `The local Microsoft Graph does not support the query option '${name}'.`);
    }
    const top = query.get('$top');
    const pageSize = top === null ? DEFAULT_PAGE_SIZE : Number(top);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) return error(req, 400, 'Request_BadRequest', `Invalid page size specified: '${top}'. Must be between 1 and ${MAX_PAGE_SIZE} inclusive.`);
    const count = query.get('$count');
    if (count !== null && count !== 'true' && count !== 'false') return error(req, 400, 'Request_BadRequest', `Invalid value '${count}' for $count.`);
    const counted = count === 'true';
    if (counted && header(req, 'consistencylevel')?.toLowerCase() !== 'eventual') {
      return error(req, 400, 'Request_BadRequest', '$count is only supported with the ConsistencyLevel:eventual header (advanced query capabilities).');
    }
    const offset = offsetOf(query.get('$skiptoken'));
    if (offset === undefined) return error(req, 400, 'Directory_ExpiredPageToken', 'The specified page token value has expired and can no longer be included in your request.');
    const select = query.get('$select')?.split(',').map((s) => s.trim()).filter(Boolean);
    const project = (item: Record<string, unknown>): Record<string, unknown> => {
      if (!select) return item;
      const kept: Record<string, unknown> = {};
      if ('@odata.type' in item) kept['@odata.type'] = item['@odata.type'];
      for (const name of select) if (name in item) kept[name] = item[name];
      return kept;
    };
    const page = items.slice(offset, offset + pageSize).map(project);
    const body: Record<string, unknown> = { '@odata.context': `${baseUrl}/v1.0/$metadata#${context}${select ? `(${select.join(',')})` : ''}` };
    if (counted) body['@odata.count'] = items.length;
    if (offset + pageSize < items.length) {
      const next = new URLSearchParams(query);
      next.set('$skiptoken', skipToken(offset + pageSize));
      body['@odata.nextLink'] = `${baseUrl}${parsed.path}?${next.toString()}`;
    }
    body.value = page;
    return { status: 200, body };
  }

  const groupObject = (group: DirectoryGroup, caller: Caller, typed: boolean): Record<string, unknown> => {
    const type = typed ? { '@odata.type': '#microsoft.graph.group' } : {};
    if (!hasAny(caller, READ_GROUPS)) return { ...type, id: group.id };
    return { ...type, id: group.id, displayName: group.displayName, description: null, groupTypes: [], mail: null, mailEnabled: group.mailEnabled, mailNickname: group.displayName.replace(/\W+/g, ''), securityEnabled: group.securityEnabled };
  };
  const principalObject = (principal: DirectoryPrincipal, caller: Caller, typed: boolean): Record<string, unknown> => {
    const odataType = principal.type === 'user' ? '#microsoft.graph.user' : '#microsoft.graph.servicePrincipal';
    const type = typed ? { '@odata.type': odataType } : {};
    if (principal.type !== 'user' || !hasAny(caller, READ_USERS)) return { ...type, id: principal.id };
    return { ...type, id: principal.id, displayName: principal.displayName, userPrincipalName: principal.userPrincipalName, mail: null, accountEnabled: true };
  };

  function route(req: IncomingMessage, caller: Caller, parsed: ParsedRequest, body: unknown): EmulatorResponse {
    const segments = parsed.path.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    const [version, collection, rawId, relation, cast, ...rest] = segments;
    const lower = (text: string | undefined): string | undefined => text?.toLowerCase();
    if (version !== 'v1.0') return error(req, 400, 'BadRequest', `Invalid version: ${version ?? ''}`);
    const id = rawId?.toLowerCase() ?? '';
    const unknownSegment = (segment: string | undefined): EmulatorResponse => error(req, 400, 'BadRequest', `Resource not found for the segment '${segment ?? ''}'.`);
    if (rest.length > 0) return unknownSegment(rest[0]);
    if (lower(collection) === 'users' && lower(relation) === 'transitivememberof') {
      if (req.method !== 'GET') return error(req, 405, 'Request_BadRequest', `Specified HTTP method is not allowed for the request target.`);
      if (cast !== undefined && lower(cast) !== 'microsoft.graph.group') return unknownSegment(cast);
      if (!hasAny(caller, READ_MEMBERSHIPS)) return denied(req);
      if (directory.principals.get(id)?.type !== 'user') return notFound(req, rawId ?? '');
      const groups = directory.transitiveMemberOf(id);
      return listed(req, parsed, cast ? 'groups' : 'directoryObjects', groups.map((g) => groupObject(g, caller, !cast)));
    }
    if (lower(collection) === 'users' && lower(relation) === 'getmemberobjects' && cast === undefined) {
      if (req.method !== 'POST') return error(req, 405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
      if (!hasAny(caller, GET_MEMBER_OBJECTS)) return denied(req);
      const securityEnabledOnly = (body as { securityEnabledOnly?: unknown } | undefined)?.securityEnabledOnly;
      if (typeof securityEnabledOnly !== 'boolean') return error(req, 400, 'Request_BadRequest', "Invalid request: 'securityEnabledOnly' is required and must be a boolean.");
      if (directory.principals.get(id)?.type !== 'user') return notFound(req, rawId ?? '');
      const groups = directory.transitiveMemberOf(id).filter((g) => !securityEnabledOnly || g.securityEnabled);
      return { status: 200, body: { '@odata.context': `${baseUrl}/v1.0/$metadata#Collection(Edm.String)`, value: groups.map((g) => g.id) } };
    }
    if (lower(collection) === 'groups' && lower(relation) === 'transitivemembers') {
      if (req.method !== 'GET') return error(req, 405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
      if (cast !== undefined && lower(cast) !== 'microsoft.graph.user') return unknownSegment(cast);
      if (!hasAny(caller, READ_GROUP_MEMBERS)) return denied(req);
      if (!directory.groups.has(id)) return notFound(req, rawId ?? '');
      const members = directory.transitiveMembers(id);
      const items = cast
        ? members.flatMap((m) => (m.kind === 'principal' && m.principal.type === 'user' ? [principalObject(m.principal, caller, false)] : []))
        : members.map((m) => (m.kind === 'group' ? groupObject(m.group, caller, true) : principalObject(m.principal, caller, true)));
      return listed(req, parsed, cast ? 'users' : 'directoryObjects', items);
    }
    return unknownSegment(relation ?? collection);
  }

  function admin(req: IncomingMessage, path: string, body: unknown): EmulatorResponse {
    const bad = (message: string): EmulatorResponse => ({ status: 400, body: { error: { code: 'BadRequest', message } } });
    const answered = faultsEndpoint(req, path, body, faults, bad);
    if (answered) return answered;
    if (path === '/_emulator/groups' && req.method === 'GET') return { status: 200, body: [...directory.groups.values()] };
    if (path === '/_emulator/groups' && req.method === 'POST') {
      try {
        return { status: 200, body: directory.putGroup(body) };
      } catch (failure) {
        return bad((failure as Error).message);
      }
    }
    if (path === '/_emulator/requests' && req.method === 'GET') return { status: 200, body: log.all() };
    return { status: 404, body: { error: { code: 'NotFound', message: `No emulator endpoint ${req.method ?? ''} ${path}` } } };
  }

  const handlers: EmulatorRequestHandlers<Caller> = {
    bodyRefusals: bodyRefusals(),
    admin,
    authenticate,
    faultAnswer: (fault, req) => {
      if (fault === 'throttle') {
        const seconds = faults.current.retryAfterSeconds ?? 1;
        return error(req, 429, 'TooManyRequests', 'Too many requests.', { 'Retry-After': String(seconds) });
      }
      if (fault === 'unavailable') return error(req, 503, 'ServiceUnavailable', 'Service is temporarily unavailable. Please try again later. (injected fault)');
      return error(req, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation. (injected fault)');
    },
    route,
  };

  function send(req: IncomingMessage, res: ServerResponse, response: EmulatorResponse): void {
    const { requestId, clientRequestId } = idsOf(req);
    writeResponse(res, response, (text) => ({
      ...(text ? { 'Content-Type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8' } : {}),
      'Cache-Control': 'no-cache',
      'Strict-Transport-Security': 'max-age=31536000',
      'request-id': requestId,
      'client-request-id': clientRequestId,
      'x-ms-ags-diagnostic': JSON.stringify({ ServerInfo: { DataCenter: 'Local', Slice: 'E', Ring: '0', ScaleUnit: '000', RoleInstance: 'LOCAL' } }),
    }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = splitUrl(req.url ?? '/');
    const record = log.add({ method: req.method ?? 'GET', path: parsed.path, status: 0, requestId: idsOf(req).requestId });
    await serveEmulatorRequest(req, parsed, record, (response) => send(req, res, response), faults, handlers);
  }

  const served = await startEmulatorServer(material, options.port, handle, (req, res, failure) => send(req, res, error(req, 500, 'InternalServerError', failure.message)));
  baseUrl = served.baseUrl;

  return {
    url: baseUrl,
    caPem: material.caPem,
    caFile: material.caFile,
    putGroup: (group) => {
      directory.putGroup(group);
    },
    requests: () => log.all().map((record) => ({ ...record })),
    setFaults: (settings) => {
      faults.replace(settings);
    },
    close: async () => {
      await closeServer(served.server);
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
