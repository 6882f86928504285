import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { decodeJwt, type JWK } from 'jose';
import { bearerToken, emulatorTokenVerifier, tokenPrincipal } from '../emulator-common/auth';
import { FaultInjector } from '../emulator-common/faults';
import { splitUrl, type BodyRefusals, type ParsedRequest } from '../emulator-common/http';
import { pageOf, writeResponse } from '../emulator-common/responses';
import { closeServer, faultsEndpoint, RequestLog, serveEmulatorRequest, startEmulatorServer, type EmulatorRequestHandlers, type RequestRecord as EmulatorRequestRecord } from '../emulator-common/server';
import { loadSeed } from '../emulator-common/state';
import { emulatorTlsMaterial } from '../emulator-common/tls';
import { faultsFromEnvironment, validateFaults, type ArmFaultSettings } from './faults';
import { isGuid, normalizeScope, parseScope, sameText, toWireAssignment } from './model';
import { Pim } from './pim';
import { ArmRbac } from './rbac';
import { armError, type Caller, type EmulatorResponse } from './responses';
import { ArmStateStore, type ArmSeed } from './state';

export type { ArmFaultSettings, FaultKind } from './faults';
export type { ArmSeed } from './state';

/** The audiences ARM accepts, as its InvalidAuthenticationTokenAudience message lists them. */
export const ARM_AUDIENCES = ['https://management.core.windows.net/', 'https://management.core.windows.net', 'https://management.azure.com/', 'https://management.azure.com'];
export const ROLE_API_VERSION = '2022-04-01';
export const PIM_API_VERSION = '2020-10-01';
/** The api-versions in use per resource type (all answer in the newest shape). */
export const API_VERSIONS: Record<'roleassignments' | 'roledefinitions' | 'pim', readonly string[]> = {
  roleassignments: ['2015-07-01', '2018-01-01-preview', '2018-09-01-preview', '2020-03-01-preview', '2020-04-01-preview', '2020-08-01-preview', '2020-10-01-preview', '2022-01-01-preview', '2022-04-01'],
  roledefinitions: ['2015-07-01', '2018-01-01-preview', '2022-04-01', '2022-05-01-preview'],
  pim: ['2020-10-01', '2020-10-01-preview', '2022-04-01-preview', '2024-02-01-preview', '2024-09-01-preview'],
};
/** ARM's request budget per subscription and hour, which its x-ms-ratelimit-remaining-subscription-* headers count down. */
const HOURLY_BUDGET = { reads: 12000, writes: 1200, deletes: 15000 } as const;
export const DEFAULT_PAGE_SIZE = 20;
const SWEEP_INTERVAL_MS = 100;

export interface ArmEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Keeps the state (assignments, PIM requests and schedules) and the TLS material across restarts. */
  dataDir?: string;
  /** The first state: a seed file's path or its content. Ignored when dataDir already holds state. */
  seed?: string | ArmSeed;
  /** The identity provider whose tokens are accepted. */
  issuer: string;
  jwk?: JWK;
  jwksUrl?: string;
  tenantId: string;
  /** The one subscription this ARM knows; scopes in others are 404 SubscriptionNotFound. */
  subscriptionId: string;
  /** Items per page of every list; small so that clients must follow nextLink. */
  pageSize?: number;
  /** Initial faults; ARM_EMULATOR_FAULTS in the environment when not given. */
  faults?: ArmFaultSettings;
  /** How much faster than the wall clock PIM schedules run (default 1): 300 ends a PT5M grant after one second. */
  timeScale?: number;
}

/** ARM's records also carry the `x-ms-request-id` of the answer. */
export interface RequestRecord extends EmulatorRequestRecord {
  requestId: string;
}

export interface ArmEmulator {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  readonly caFile: string;
  readonly subscriptionId: string;
  /** Every role assignment in the subscription, in ARM's wire shape. */
  assignments(): Array<{ id: string; name: string; properties: { scope: string; roleDefinitionId: string; principalId: string; principalType: string } }>;
  requests(): RequestRecord[];
  setFaults(settings: ArmFaultSettings): void;
  /** Runs PIM's clock now (it also runs on its own every 100 ms and before every request). */
  sweep(): void;
  close(): Promise<void>;
}

const AUTHORIZATION_PATH = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions|roleAssignmentScheduleRequests|roleAssignmentSchedules|roleEligibilityScheduleRequests|roleEligibilitySchedules)(?:\/([^/]+)(?:\/(cancel))?)?\/?$/i;

type Authentication = { caller: Caller } | { refusal: EmulatorResponse };

const BODY_REFUSALS: BodyRefusals = {
  tooLarge: () => armError(413, 'RequestEntityTooLarge', 'The request body is too large.'),
  notJson: () => armError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: it is not JSON.'),
};

/**
 * Azure Resource Manager's Microsoft.Authorization provider on 127.0.0.1 over HTTPS, for one
 * subscription: role assignments and role definitions (2022-04-01) and PIM assignment schedule
 * requests (2020-10-01), with ARM's authentication errors, Azure RBAC enforced on every caller,
 * paging, faults, and state kept across restarts.
 */
export async function startArmEmulator(options: ArmEmulatorOptions): Promise<ArmEmulator> {
  if (!isGuid(options.subscriptionId)) throw new Error(`subscriptionId must be a GUID, not '${options.subscriptionId}'`);
  const subscriptionId = options.subscriptionId.toLowerCase();
  const store = ArmStateStore.open({ ...(options.dataDir ? { file: join(options.dataDir, 'state.json') } : {}), seed: loadSeed<ArmSeed>(options.seed), subscriptionId });
  const rbac = new ArmRbac(store, subscriptionId);
  const pim = new Pim(store, rbac, options.timeScale ?? 1);
  const verify = emulatorTokenVerifier(options, ARM_AUDIENCES);
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const faults = new FaultInjector(options.faults ? validateFaults(options.faults) : faultsFromEnvironment(), validateFaults);
  const log = new RequestLog<RequestRecord>();
  const { material, temporaryDir } = await emulatorTlsMaterial(options.dataDir, 'Azure Resource Manager', 'arm-emulator-');
  let baseUrl = '';

  function challenge(description: string): Record<string, string> {
    return { 'WWW-Authenticate': `Bearer authorization_uri="https://login.windows.net/${options.tenantId}", error="invalid_token", error_description="${description}"` };
  }

  async function authenticate(req: IncomingMessage): Promise<Authentication> {
    const header = req.headers.authorization;
    if (!header) {
      return { refusal: armError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", challenge("The authentication failed because of missing 'Authorization' header.")) };
    }
    const token = bearerToken(header);
    const invalid = { refusal: armError(401, 'InvalidAuthenticationToken', 'The access token is invalid.', challenge('The access token is invalid.')) };
    if (!token) return invalid;
    try {
      const claims = await verify(token);
      const principal = tokenPrincipal(claims);
      if (!principal) return invalid;
      const name = [claims.upn, claims.preferred_username, claims.unique_name].find((value): value is string => typeof value === 'string' && value.includes('@'));
      const application = typeof claims.appid === 'string' ? claims.appid : undefined;
      return { caller: { ...principal, displayName: name ?? application ?? principal.objectId } };
    } catch (error) {
      const code = (error as { code?: string; claim?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') {
        const expiry = new Date(Number(decodeJwt(token).exp) * 1000).toISOString();
        return { refusal: armError(401, 'ExpiredAuthenticationToken', `The access token expiry UTC time '${expiry}' is earlier than current UTC time '${new Date().toISOString()}'.`, challenge('The access token has expired.')) };
      }
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (error as { claim?: string }).claim === 'aud') {
        const audience = String(decodeJwt(token).aud);
        return {
          refusal: armError(401, 'InvalidAuthenticationTokenAudience', `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match with one of the allowed audiences ${ARM_AUDIENCES.map((a) => `'${a}'`).join(',')}.`, challenge('The access token is invalid.')),
        };
      }
      return invalid;
    }
  }

  const budget = { hour: -1, used: { reads: 0, writes: 0, deletes: 0 } };

  /** `x-ms-ratelimit-remaining-subscription-{reads|writes|deletes}`, counted down within the hour. */
  function rateLimitHeaders(method: string | undefined): Record<string, string> {
    const hour = Math.floor(Date.now() / 3_600_000);
    if (hour !== budget.hour) Object.assign(budget, { hour, used: { reads: 0, writes: 0, deletes: 0 } });
    const kind = method === 'GET' || method === 'HEAD' ? 'reads' : method === 'DELETE' ? 'deletes' : 'writes';
    budget.used[kind] += 1;
    return { [`x-ms-ratelimit-remaining-subscription-${kind}`]: String(Math.max(0, HOURLY_BUDGET[kind] - budget.used[kind])) };
  }

  function send(req: IncomingMessage, res: ServerResponse, response: EmulatorResponse, requestId: string): void {
    const correlation = req.headers['x-ms-correlation-request-id'];
    const counted = response.status !== 401 && !req.url?.startsWith('/_emulator/') ? rateLimitHeaders(req.method) : {};
    writeResponse(res, response, (body) => ({
      ...counted,
      'Cache-Control': 'no-cache',
      Pragma: 'no-cache',
      Expires: '-1',
      ...(body ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'x-ms-request-id': requestId,
      'x-ms-correlation-request-id': typeof correlation === 'string' && correlation ? correlation : requestId,
      'x-ms-routing-request-id': `LOCAL:${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}:${requestId}`,
    }));
  }

  function page<T>(items: T[], path: string, query: URLSearchParams): EmulatorResponse {
    return pageOf(items, { baseUrl, path, query, pageSize, skipTokenName: '$skipToken', invalidToken: () => armError(400, 'BadRequest', 'The $skipToken is not valid.') });
  }

  function listed<T>(result: EmulatorResponse | T[], path: string, query: URLSearchParams): EmulatorResponse {
    return Array.isArray(result) ? page(result, path, query) : result;
  }

  function handleAdmin(req: IncomingMessage, path: string, body: unknown): EmulatorResponse {
    const faultsAnswer = faultsEndpoint(req, path, body, faults, (message) => armError(400, 'BadRequest', message));
    if (faultsAnswer) return faultsAnswer;
    if (path === '/_emulator/assignments' && req.method === 'GET') return { status: 200, body: store.data.roleAssignments.map((a) => toWireAssignment(a, subscriptionId)) };
    if (path === '/_emulator/schedules' && req.method === 'GET') return { status: 200, body: store.data.schedules };
    return armError(404, 'NotFound', `No emulator endpoint ${req.method} ${path}`);
  }

  function route(req: IncomingMessage, caller: Caller, parsed: ParsedRequest, body: unknown): EmulatorResponse {
    // Grants and removals due by now take effect before the request sees the assignments.
    pim.sweep();
    const method = req.method ?? 'GET';
    const { path, query } = parsed;
    const match = AUTHORIZATION_PATH.exec(path);
    if (!match) return armError(404, 'NotFound', `The emulator serves only Microsoft.Authorization, not ${method} ${path}.`);
    const kind = match[2].toLowerCase();
    let name: string | undefined;
    try {
      name = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
    } catch {
      return armError(400, 'BadRequest', `The resource name in ${path} is not correctly encoded.`);
    }
    const accepted = API_VERSIONS[kind === 'roleassignments' || kind === 'roledefinitions' ? kind : 'pim'];
    const apiVersion = query.get('api-version');
    if (!apiVersion) return armError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
    if (!accepted.includes(apiVersion)) {
      return armError(400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions are '${accepted.join(',')}'.`);
    }
    const action = match[4]?.toLowerCase();
    if (action && (kind !== 'roleassignmentschedulerequests' && kind !== 'roleeligibilityschedulerequests')) return armError(404, 'NotFound', `No action ${action} on ${kind}.`);
    const scoped = parseScope(match[1]);
    if (!scoped) return armError(400, 'InvalidScope', `The scope '${normalizeScope(match[1])}' is not a valid scope for Microsoft.Authorization.`);
    if (scoped.subscriptionId && !sameText(scoped.subscriptionId, subscriptionId)) {
      return armError(404, 'SubscriptionNotFound', `The subscription '${scoped.subscriptionId}' could not be found.`);
    }
    const scope = scoped.scope;
    const resourcePath = normalizeScope(path);
    const refuse = (): EmulatorResponse => armError(405, 'MethodNotAllowed', `${method} is not supported on ${resourcePath}.`);

    if (kind === 'roleassignments') {
      if (!name) return method === 'GET' ? listed(rbac.listAssignments(caller, scope, query.get('$filter') ?? undefined, resourcePath), path, query) : refuse();
      if (method === 'GET') return rbac.getAssignment(caller, scope, name, resourcePath);
      if (method === 'PUT') return rbac.createAssignment(caller, scope, name, body, resourcePath);
      if (method === 'DELETE') return rbac.deleteAssignment(caller, scope, name, resourcePath);
      return refuse();
    }
    if (kind === 'roledefinitions') {
      if (!name) return method === 'GET' ? listed(rbac.listRoleDefinitions(caller, scope, query.get('$filter') ?? undefined, resourcePath), path, query) : refuse();
      if (method === 'GET') return rbac.getRoleDefinition(caller, scope, name, resourcePath);
      if (method === 'PUT') return rbac.setRoleDefinition(caller, scope, name, body, resourcePath);
      if (method === 'DELETE') return rbac.deleteRoleDefinition(caller, scope, name, resourcePath);
      return refuse();
    }
    const filter = query.get('$filter') ?? undefined;
    if (kind === 'roleassignmentschedulerequests' || kind === 'roleeligibilityschedulerequests') {
      const plane = kind === 'roleassignmentschedulerequests' ? 'assignment' : 'eligibility';
      if (!name) return method === 'GET' ? listed(pim.listRequests(plane, caller, scope, filter, resourcePath), path, query) : refuse();
      if (action === 'cancel') return method === 'POST' ? pim.cancelRequest(plane, caller, scope, name, resourcePath) : refuse();
      if (method === 'GET') return pim.getRequest(plane, caller, scope, name, resourcePath);
      if (method === 'PUT') return plane === 'assignment' ? pim.createRequest(caller, scope, name, body, resourcePath) : pim.createEligibilityRequest(caller, scope, name, body, resourcePath);
      return refuse();
    }
    if (method !== 'GET') return refuse();
    const plane = kind === 'roleassignmentschedules' ? 'assignment' : 'eligibility';
    return name ? pim.getSchedule(plane, caller, scope, name, resourcePath) : listed(pim.listSchedules(plane, caller, scope, filter, resourcePath), path, query);
  }

  const handlers: EmulatorRequestHandlers<Caller> = {
    bodyRefusals: BODY_REFUSALS,
    admin: handleAdmin,
    authenticate,
    faultAnswer: (fault, req, _path, caller) => {
      if (fault === 'throttle') {
        const seconds = faults.current.retryAfterSeconds ?? 1;
        const kind = req.method === 'GET' ? 'read' : req.method === 'DELETE' ? 'delete' : 'write';
        return armError(429, 'SubscriptionRequestsThrottled', `Number of '${kind}' requests for subscription '${subscriptionId}' actor '${caller.objectId}' exceeded. Please try again after '${seconds}' seconds.`, { 'Retry-After': String(seconds) });
      }
      if (fault === 'unavailable') return armError(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please try again later.');
      return armError(403, 'AuthorizationFailed', `The client '${caller.objectId}' does not have authorization to perform this action (injected fault).`);
    },
    route,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = splitUrl(req.url ?? '/');
    const requestId = randomUUID();
    const record = log.add({ method: req.method ?? 'GET', path: parsed.path, status: 0, requestId });
    await serveEmulatorRequest(req, parsed, record, (response) => send(req, res, response, requestId), faults, handlers);
  }

  const served = await startEmulatorServer(material, options.port, handle, (req, res, error) => send(req, res, armError(500, 'InternalServerError', error.message), randomUUID()));
  const { server, port } = served;
  baseUrl = served.baseUrl;
  // PIM ends grants on its own: nobody has to call for an expired assignment to go.
  pim.sweep();
  const sweeper = setInterval(() => pim.sweep(), SWEEP_INTERVAL_MS);
  sweeper.unref();

  return {
    url: baseUrl,
    port,
    caPem: material.caPem,
    caFile: material.caFile,
    subscriptionId,
    assignments: () => store.data.roleAssignments.map((a) => toWireAssignment(a, subscriptionId) as ReturnType<ArmEmulator['assignments']>[number]),
    requests: () => log.all().map((record) => ({ ...record })),
    setFaults: (settings) => {
      faults.replace(settings);
    },
    sweep: () => {
      pim.sweep();
    },
    close: async () => {
      clearInterval(sweeper);
      await closeServer(server);
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
