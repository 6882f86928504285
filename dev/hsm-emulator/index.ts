import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { bearerToken, emulatorTokenVerifier, tokenPrincipal } from '../emulator-common/auth';
import { FaultInjector } from '../emulator-common/faults';
import { splitUrl, type BodyRefusals, type ParsedRequest } from '../emulator-common/http';
import { pageOf, writeResponse } from '../emulator-common/responses';
import { closeServer, faultsEndpoint, RequestLog, serveEmulatorRequest, startEmulatorServer, type EmulatorRequestHandlers, type RequestRecord } from '../emulator-common/server';
import { loadSeed } from '../emulator-common/state';
import { emulatorTlsMaterial } from '../emulator-common/tls';
import { AuditLogWriter, auditRecordFor, type AuditLogWriterOptions } from './auditLog';
import { faultsFromEnvironment, validateFaults, type FaultSettings } from './faults';
import { KeyOperations, type KeyOperation } from './keys';
import { isValidScope, toWireAssignment, type RoleAssignment } from './model';
import { LocalRbac } from './rbac';
import { badParameter, hsmError, type Caller, type EmulatorResponse } from './responses';
import { HsmStateStore, type HsmSeed } from './state';

export type { FaultSettings } from './faults';
export type { HsmSeed } from './state';
export type { RequestRecord } from '../emulator-common/server';

/** The resource the HSM names in its challenge; tokens must carry it as their audience. */
export const HSM_RESOURCE = 'https://managedhsm.azure.net';
export const DEFAULT_PAGE_SIZE = 20;

export interface HsmEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Keeps the state (role definitions, assignments, keys) and the TLS material across restarts. */
  dataDir?: string;
  /** The first state: a seed file's path or its content. Ignored when dataDir already holds state. */
  seed?: string | HsmSeed;
  /** The identity provider whose tokens are accepted. */
  issuer: string;
  jwk?: JWK;
  jwksUrl?: string;
  tenantId: string;
  /** Items per page of every list; small so that clients must follow nextLink. */
  pageSize?: number;
  /** Initial faults; HSM_EMULATOR_FAULTS in the environment when not given. */
  faults?: FaultSettings;
  /** Where the HSM's AuditEvent diagnostic log goes: a record per data-plane call answered, refusals included. */
  auditLog?: AuditLogWriterOptions & { name?: string };
}

export interface HsmEmulator {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  readonly caFile: string;
  /** Every assignment the HSM holds, at every scope. */
  assignments(): RoleAssignment[];
  keyNames(): string[];
  requests(): RequestRecord[];
  setFaults(settings: FaultSettings): void;
  /** Starts writing the AuditEvent log (when storage starts after the HSM, as in the local stack). */
  sendAuditLogTo(options: AuditLogWriterOptions & { name?: string }): void;
  /** Resolves once every audit record of the calls answered so far is in its blob. */
  auditLogFlushed(): Promise<void>;
  close(): Promise<void>;
}

/** `{scope}/providers/...` with the scope inserted as is: `//`, `//keys`, `//keys/k1` or, from older clients, nothing. */
function scopeFromPrefix(prefix: string): string {
  const scope = `/${prefix.replace(/^\/+/, '')}`.replace(/(.)\/+$/, '$1');
  return scope;
}

/** `/keys/{name}/{version}/{operation}`; the SDK sends `//` for the latest version, older clients leave it out. */
const KEY_OPERATION_PATH = /^\/keys\/([^/]+)(?:\/([^/]*))?\/(sign|verify|encrypt|decrypt|wrapkey|unwrapkey)$/i;

const RBAC_PATH = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(?:\/([^/]*))?\/?$/i;

const BODY_REFUSALS: BodyRefusals = {
  tooLarge: () => hsmError(413, 'RequestEntityTooLarge', 'The request body is too large'),
  notJson: () => badParameter('The request body is not valid JSON'),
};

/**
 * A Managed HSM data plane on 127.0.0.1 over HTTPS: the 401 challenge, bearer tokens of the dev
 * identity provider, local RBAC enforced on every caller, role definitions and assignments with the
 * service's list semantics, paging and limits, and RSA, EC and AES keys with the operations each
 * type allows (sign, verify, encrypt, decrypt, wrap, unwrap), each gated by its data action.
 */
export async function startHsmEmulator(options: HsmEmulatorOptions): Promise<HsmEmulator> {
  const store = HsmStateStore.open({ ...(options.dataDir ? { file: join(options.dataDir, 'state.json') } : {}), seed: loadSeed<HsmSeed>(options.seed) });
  const rbac = new LocalRbac(store);
  const keys = new KeyOperations(store, rbac);
  const verify = emulatorTokenVerifier(options, [HSM_RESOURCE, `${HSM_RESOURCE}/`]);
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const faults = new FaultInjector(options.faults ?? faultsFromEnvironment(), validateFaults);
  const log = new RequestLog<RequestRecord>();
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${options.tenantId}", resource="${HSM_RESOURCE}"`;
  const { material, temporaryDir } = await emulatorTlsMaterial(options.dataDir, 'Managed HSM', 'hsm-emulator-');
  let baseUrl = '';

  /**
   * The HSM's headers. As the recordings show, its successful answers name its region and how the
   * caller reached it (`x-ms-keyvault-network-info`); challenges and errors name neither.
   */
  function send(req: IncomingMessage, res: ServerResponse, response: EmulatorResponse, started: number, requestId: string = randomUUID()): void {
    const succeeded = response.status >= 200 && response.status < 300;
    const family = req.socket.remoteFamily === 'IPv6' ? 'Ipv6' : 'Ipv4';
    writeResponse(res, response, () => ({
      'Cache-Control': 'no-cache',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Security-Policy': "default-src 'self'",
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'SAMEORIGIN',
      'x-ms-build-version': 'hsm-access-governor-emulator',
      ...(!succeeded ? {} : {
        'x-ms-keyvault-region': 'local',
        'x-ms-keyvault-network-info': `conn_type=${family};addr=${req.socket.remoteAddress ?? '127.0.0.1'};act_addr_fam=${family};`,
      }),
      'x-ms-request-id': requestId,
      'x-ms-server-latency': String(Date.now() - started),
    }));
  }

  function page<S, T = S>(items: readonly S[], path: string, query: URLSearchParams, render?: (item: S) => T): EmulatorResponse {
    return pageOf(items, { baseUrl, path, query, pageSize, skipTokenName: '$skiptoken', invalidToken: () => badParameter('Invalid $skiptoken'), ...(render ? { render } : {}) });
  }

  /** Anything but a valid token of the dev identity provider meets the challenge. */
  async function authenticate(req: IncomingMessage): Promise<{ caller: Caller } | { refusal: EmulatorResponse }> {
    // The real HSM answers the anonymous first request of a client with "OK" for a GET and nothing otherwise.
    const refusal: EmulatorResponse = { status: 401, headers: { 'WWW-Authenticate': challenge }, rawBody: req.method === 'GET' ? 'OK' : '' };
    const token = bearerToken(req.headers.authorization);
    if (!token) return { refusal };
    try {
      const principal = tokenPrincipal(await verify(token));
      return principal ? { caller: principal } : { refusal };
    } catch {
      return { refusal };
    }
  }

  function handleAdmin(req: IncomingMessage, path: string, body: unknown): EmulatorResponse {
    const faultsAnswer = faultsEndpoint(req, path, body, faults, badParameter);
    if (faultsAnswer) return faultsAnswer;
    if (path === '/_emulator/assignments' && req.method === 'GET') return { status: 200, body: store.data.roleAssignments.map(toWireAssignment) };
    return hsmError(404, 'NotFound', `No emulator endpoint ${req.method} ${path}`);
  }

  function route(req: IncomingMessage, caller: Caller, parsed: ParsedRequest, body: unknown): EmulatorResponse {
    const { path, query } = parsed;
    if (!query.get('api-version')) return badParameter('The api-version query parameter is required');
    const method = req.method ?? 'GET';
    const rbacMatch = RBAC_PATH.exec(path);
    if (rbacMatch) {
      const scope = scopeFromPrefix(rbacMatch[1]);
      if (!isValidScope(scope)) return badParameter(`Invalid scope: ${scope}`);
      const kind = rbacMatch[2].toLowerCase();
      const name = rbacMatch[3] === undefined ? undefined : decodeURIComponent(rbacMatch[3]);
      if (kind === 'roleassignments') {
        if (name === undefined || name === '') {
          if (method !== 'GET') return hsmError(405, 'MethodNotAllowed', `${method} is not allowed here`);
          const listed = rbac.listAssignments(caller, scope, query.get('$filter') ?? undefined);
          return Array.isArray(listed) ? page(listed, path, query, toWireAssignment) : listed;
        }
        if (method === 'GET') return rbac.getAssignment(caller, scope, name);
        if (method === 'PUT') return rbac.createAssignment(caller, scope, name, body, (keyName) => keys.find(keyName) !== undefined);
        if (method === 'DELETE') return rbac.deleteAssignment(caller, scope, name);
        return hsmError(405, 'MethodNotAllowed', `${method} is not allowed here`);
      }
      if (name === undefined || name === '') {
        if (method !== 'GET') return hsmError(405, 'MethodNotAllowed', `${method} is not allowed here`);
        const listed = rbac.listRoleDefinitions(caller, scope);
        return Array.isArray(listed) ? page(listed, path, query) : listed;
      }
      if (method === 'GET') return rbac.getRoleDefinition(caller, scope, name);
      if (method === 'PUT') return rbac.setRoleDefinition(caller, scope, name, body);
      if (method === 'DELETE') return rbac.deleteRoleDefinition(caller, scope, name);
      return hsmError(405, 'MethodNotAllowed', `${method} is not allowed here`);
    }
    if (/^\/keys\/?$/.test(path) && method === 'GET') {
      const listed = keys.list(caller);
      return Array.isArray(listed) ? page(listed, path, query, (key) => keys.listItem(baseUrl, key)) : listed;
    }
    const create = /^\/keys\/([^/]+)\/create$/.exec(path);
    if (create && method === 'POST') return keys.create(caller, baseUrl, decodeURIComponent(create[1]), body);
    const operation = KEY_OPERATION_PATH.exec(path);
    if (operation && method === 'POST') {
      const [, name, version, action] = operation;
      return keys.operate(caller, baseUrl, action.toLowerCase() as KeyOperation, decodeURIComponent(name), version || undefined, body);
    }
    const get = /^\/keys\/([^/]+)(?:\/([^/]*))?\/?$/.exec(path);
    if (get && method === 'GET') return keys.get(caller, baseUrl, decodeURIComponent(get[1]), get[2] || undefined);
    return hsmError(404, 'NotFound', `No such operation: ${method} ${path}`);
  }

  const handlers: EmulatorRequestHandlers<Caller> = {
    bodyRefusals: BODY_REFUSALS,
    admin: handleAdmin,
    authenticate,
    faultAnswer: (fault, req, path, caller) => {
      if (fault === 'throttle') return hsmError(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: HSM RBAC request rate exceeded');
      if (fault === 'unavailable') return hsmError(503, 'ServiceUnavailable', 'The service is temporarily unavailable');
      return hsmError(403, 'AccessDenied', `Operation ${req.method ?? 'GET'} ${path} is not allowed for caller ${caller.objectId} (injected fault)`);
    },
    route,
  };

  let auditLog: { writer: AuditLogWriter; resourceId: string; name: string } | undefined;
  const sendAuditLogTo = (settings: AuditLogWriterOptions & { name?: string }): void => {
    auditLog = { writer: new AuditLogWriter(settings), resourceId: settings.resourceId, name: settings.name ?? settings.resourceId.split('/').at(-1)?.toLowerCase() ?? 'hsm' };
  };
  if (options.auditLog) sendAuditLogTo(options.auditLog);

  /** Every data-plane call the HSM answered goes into its audit log; the emulator's own endpoints do not. */
  function logAnswered(req: IncomingMessage, record: RequestRecord, started: number): void {
    if (!auditLog || record.path.startsWith('/_emulator/') || record.status <= 0) return;
    const entry = auditRecordFor({
      method: record.method, url: req.url ?? '/', status: record.status, tenantId: options.tenantId, durationMs: Date.now() - started,
      ...(record.principalId ? { principalId: record.principalId } : {}), ...(req.socket.remoteAddress ? { callerIp: req.socket.remoteAddress } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    }, { resourceId: auditLog.resourceId, host: `${auditLog.name}.managedhsm.azure.net`, name: auditLog.name });
    auditLog.writer.append([entry]).catch((error: unknown) => console.error(`HSM emulator: audit log append failed: ${(error as Error).message}`));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const parsed = splitUrl(req.url ?? '/');
    const requestId = randomUUID();
    const record = log.add({ method: req.method ?? 'GET', path: parsed.path, status: 0, requestId });
    await serveEmulatorRequest(req, parsed, record, (response) => send(req, res, response, started, requestId), faults, handlers);
    logAnswered(req, record, started);
  }

  const served = await startEmulatorServer(material, options.port, handle, (req, res, error) => send(req, res, hsmError(500, 'InternalError', error.message), Date.now()));
  const { server, port } = served;
  baseUrl = served.baseUrl;

  return {
    url: baseUrl,
    port,
    caPem: material.caPem,
    caFile: material.caFile,
    assignments: () => store.data.roleAssignments.map(toWireAssignment),
    keyNames: () => store.data.keys.map((key) => key.name),
    requests: () => log.all(),
    setFaults: (settings) => {
      faults.replace(settings);
    },
    sendAuditLogTo,
    auditLogFlushed: async () => auditLog?.writer.flushed(),
    close: async () => {
      await closeServer(server);
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
