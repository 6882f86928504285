import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { createTokenVerifier } from '../idp/verify';
import { generateTlsPems, loadOrCreateTlsMaterial, type TlsMaterial } from '../tls/certificate';
import { faultsFromEnvironment, pickFault, pickLatency, RateThrottle, validateFaults, type FaultSettings } from './faults';
import { KeyOperations } from './keys';
import { isValidScope, toWireAssignment, type RoleAssignment } from './model';
import { LocalRbac } from './rbac';
import { badParameter, hsmError, type Caller, type EmulatorResponse } from './responses';
import { HsmStateStore, type HsmSeed } from './state';

export type { FaultSettings } from './faults';
export type { HsmSeed } from './state';

/** The resource the HSM names in its challenge; tokens must carry it as their audience. */
export const HSM_RESOURCE = 'https://managedhsm.azure.net';
export const DEFAULT_PAGE_SIZE = 20;
const MAX_BODY_BYTES = 1024 * 1024;

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
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  principalId?: string;
  fault?: string;
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
  close(): Promise<void>;
}

interface ParsedRequest {
  path: string;
  query: URLSearchParams;
}

/** Raw paths such as `///providers/...` must not go through `new URL`, which reads `//providers` as a host. */
function splitUrl(rawUrl: string): ParsedRequest {
  const question = rawUrl.indexOf('?');
  return question < 0
    ? { path: rawUrl, query: new URLSearchParams() }
    : { path: rawUrl.slice(0, question), query: new URLSearchParams(rawUrl.slice(question + 1)) };
}

/** `{scope}/providers/...` with the scope inserted as is: `//`, `//keys`, `//keys/k1` or, from older clients, nothing. */
function scopeFromPrefix(prefix: string): string {
  const scope = `/${prefix.replace(/^\/+/, '')}`.replace(/(.)\/+$/, '$1');
  return scope;
}

const RBAC_PATH = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(?:\/([^/]*))?\/?$/i;

async function readBody(req: IncomingMessage): Promise<{ ok: true; body: unknown } | { ok: false; response: EmulatorResponse }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return { ok: false, response: hsmError(413, 'RequestEntityTooLarge', 'The request body is too large') };
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return { ok: true, body: undefined };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, response: badParameter('The request body is not valid JSON') };
  }
}

async function tlsMaterial(dataDir: string | undefined): Promise<{ material: TlsMaterial; temporaryDir?: string }> {
  if (dataDir) return { material: await loadOrCreateTlsMaterial(join(dataDir, 'tls'), 'Managed HSM') };
  const pems = await generateTlsPems('Managed HSM');
  const temporaryDir = mkdtempSync(join(tmpdir(), 'hsm-emulator-'));
  const caFile = join(temporaryDir, 'ca.pem');
  writeFileSync(caFile, pems.caPem);
  return { material: { caPem: pems.caPem, caFile, serverCertPem: pems.serverCertPem, serverKeyPem: pems.serverKeyPem }, temporaryDir };
}

function loadSeed(seed: HsmEmulatorOptions['seed']): HsmSeed {
  if (seed === undefined) return {};
  return typeof seed === 'string' ? (JSON.parse(readFileSync(seed, 'utf8')) as HsmSeed) : seed;
}

/**
 * A Managed HSM data plane on 127.0.0.1 over HTTPS: the 401 challenge, bearer tokens of the dev
 * identity provider, local RBAC enforced on every caller, role definitions and assignments with the
 * service's list semantics, paging and limits, and RSA keys that can sign and verify.
 */
export async function startHsmEmulator(options: HsmEmulatorOptions): Promise<HsmEmulator> {
  const store = HsmStateStore.open({ ...(options.dataDir ? { file: join(options.dataDir, 'state.json') } : {}), seed: loadSeed(options.seed) });
  const rbac = new LocalRbac(store);
  const keys = new KeyOperations(store, rbac);
  const verify = createTokenVerifier({
    issuer: options.issuer,
    audience: [HSM_RESOURCE, `${HSM_RESOURCE}/`],
    ...(options.jwk ? { jwk: options.jwk } : { jwksUrl: options.jwksUrl }),
  });
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  let faults = options.faults ?? faultsFromEnvironment();
  const throttle = new RateThrottle();
  throttle.configure(faults.requestsPerSecond);
  const log: RequestRecord[] = [];
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${options.tenantId}", resource="${HSM_RESOURCE}"`;
  const { material, temporaryDir } = await tlsMaterial(options.dataDir);
  let baseUrl = '';

  function send(res: ServerResponse, response: EmulatorResponse, started: number, rawBody?: string): void {
    const body = rawBody ?? (response.body === undefined ? '' : JSON.stringify(response.body));
    res.writeHead(response.status, {
      'Cache-Control': 'no-cache',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Content-Security-Policy': "default-src 'self'",
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'SAMEORIGIN',
      'x-ms-build-version': 'hsm-access-governor-emulator',
      'x-ms-keyvault-region': 'local',
      'x-ms-request-id': randomUUID(),
      'x-ms-server-latency': String(Date.now() - started),
      ...response.headers,
    });
    res.end(body);
  }

  /** One page of `items`; only the page's items are rendered (a 5,000-key list is asked for 200 times). */
  function page<S, T = S>(items: readonly S[], path: string, query: URLSearchParams, render: (item: S) => T = (item) => item as unknown as T): EmulatorResponse {
    const offset = Number.parseInt(query.get('$skiptoken') ?? '0', 10);
    if (!Number.isInteger(offset) || offset < 0) return badParameter('Invalid $skiptoken');
    const value = items.slice(offset, offset + pageSize).map(render);
    const body: { value: T[]; nextLink?: string } = { value };
    if (offset + pageSize < items.length) {
      const next = new URLSearchParams(query);
      next.set('$skiptoken', String(offset + pageSize));
      body.nextLink = `${baseUrl}${path}?${next.toString()}`;
    }
    return { status: 200, body };
  }

  async function authenticate(req: IncomingMessage): Promise<Caller | undefined> {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) return undefined;
    try {
      const claims = await verify(match[1]);
      if (typeof claims.oid !== 'string') return undefined;
      const groups = Array.isArray(claims.groups) ? claims.groups.filter((g): g is string => typeof g === 'string') : [];
      return { objectId: claims.oid, principalIds: [claims.oid, ...groups] };
    } catch {
      return undefined;
    }
  }

  function handleAdmin(req: IncomingMessage, path: string, body: unknown): EmulatorResponse {
    if (path === '/_emulator/faults' && req.method === 'GET') return { status: 200, body: faults };
    if (path === '/_emulator/faults' && req.method === 'PUT') {
      try {
        faults = validateFaults(body ?? {});
        throttle.configure(faults.requestsPerSecond);
        return { status: 200, body: faults };
      } catch (error) {
        return badParameter((error as Error).message);
      }
    }
    if (path === '/_emulator/assignments' && req.method === 'GET') return { status: 200, body: store.data.roleAssignments.map(toWireAssignment) };
    return hsmError(404, 'NotFound', `No emulator endpoint ${req.method} ${path}`);
  }

  function route(req: IncomingMessage, caller: Caller, parsed: ParsedRequest, body: unknown): EmulatorResponse {
    const { path, query } = parsed;
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
        if (method === 'PUT') return rbac.createAssignment(caller, scope, name, body);
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
    const operation = /^\/keys\/([^/]+)\/([^/]*)\/(sign|verify)$/.exec(path);
    if (operation && method === 'POST') {
      const [, name, version, action] = operation;
      return action === 'sign'
        ? keys.sign(caller, baseUrl, decodeURIComponent(name), version || undefined, body)
        : keys.verify(caller, decodeURIComponent(name), version || undefined, body);
    }
    const get = /^\/keys\/([^/]+)(?:\/([^/]*))?\/?$/.exec(path);
    if (get && method === 'GET') return keys.get(caller, baseUrl, decodeURIComponent(get[1]), get[2] || undefined);
    return hsmError(404, 'NotFound', `No such operation: ${method} ${path}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const parsed = splitUrl(req.url ?? '/');
    const record: RequestRecord = { method: req.method ?? 'GET', path: parsed.path, status: 0 };
    if (log.length >= 10_000) log.shift();
    log.push(record);
    const finish = (response: EmulatorResponse, rawBody?: string): void => {
      record.status = response.status;
      send(res, response, started, rawBody);
    };

    const read = await readBody(req);
    if (parsed.path.startsWith('/_emulator/')) {
      finish(read.ok ? handleAdmin(req, parsed.path, read.body) : read.response);
      return;
    }
    const caller = await authenticate(req);
    if (!caller) {
      // The real HSM answers the anonymous first request of a client with "OK" for a GET and nothing otherwise.
      finish({ status: 401, headers: { 'WWW-Authenticate': challenge } }, req.method === 'GET' ? 'OK' : '');
      return;
    }
    record.principalId = caller.objectId;
    const fault = throttle.admit() ? pickFault(faults) : 'throttle';
    const latency = pickLatency(faults);
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    if (fault) record.fault = fault;
    if (fault === 'drop') {
      record.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault === 'throttle') return finish(hsmError(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: HSM RBAC request rate exceeded'));
    if (fault === 'unavailable') return finish(hsmError(503, 'ServiceUnavailable', 'The service is temporarily unavailable'));
    if (fault === 'forbidden') return finish(hsmError(403, 'AccessDenied', `Operation ${req.method ?? 'GET'} ${parsed.path} is not allowed for caller ${caller.objectId} (injected fault)`));
    if (!read.ok) return finish(read.response);
    if (!parsed.query.get('api-version')) return finish(badParameter('The api-version query parameter is required'));
    finish(route(req, caller, parsed, read.body));
  }

  const server: Server = createServer({ cert: material.serverCertPem, key: material.serverKeyPem }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, hsmError(500, 'InternalError', (error as Error).message), Date.now());
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `https://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    port,
    caPem: material.caPem,
    caFile: material.caFile,
    assignments: () => store.data.roleAssignments.map(toWireAssignment),
    keyNames: () => store.data.keys.map((key) => key.name),
    requests: () => [...log],
    setFaults: (settings) => {
      faults = validateFaults(settings);
      throttle.configure(faults.requestsPerSecond);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
