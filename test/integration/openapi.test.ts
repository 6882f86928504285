import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { PERSONAS } from '../../dev/personas';
import { signCsrfToken, signReviewToken } from '../../shared/domain';
import { useStack, type ApiCallOptions } from '../helpers/stack';

/** docs/openapi.yaml checked against the running API: every documented answer the app gives, and every route it registers. */

type Json = Record<string, unknown>;
type Ref = { $ref: string };
interface Media { schema: Json }
interface ResponseSpec { content?: Record<string, Media>; headers?: Record<string, Json | Ref> }
interface Operation { responses: Record<string, ResponseSpec | Ref>; requestBody?: { content: Record<string, Media> } }
interface OpenApi { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } }

const DOC = parse(readFileSync(join(__dirname, '..', '..', 'docs', 'openapi.yaml'), 'utf8')) as OpenApi;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const SCHEMAS_ID = 'https://hsm-access-governor/openapi/schemas';

/** Component schema references point into one Ajv schema holding all components as $defs. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, key === '$ref' && typeof v === 'string' ? v.replace('#/components/schemas/', `${SCHEMAS_ID}#/$defs/`) : rewriteRefs(v)]));
}

function deref<T>(node: T | Ref): T {
  if (node && typeof node === 'object' && '$ref' in node) {
    const target = node.$ref.replace(/^#\//, '').split('/').reduce<unknown>((at, key) => (at as Json)?.[key], DOC);
    if (target === undefined) throw new Error(`Unresolved ${node.$ref}`);
    return deref(target as T | Ref);
  }
  return node as T;
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(DOC.components.schemas) });
const validators = new Map<Json, ValidateFunction>();
function validatorFor(schema: Json): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) validators.set(schema, (validate = ajv.compile(rewriteRefs(schema) as Json)));
  return validate;
}

function errorsOf(schema: Json, value: unknown): unknown[] {
  const validate = validatorFor(schema);
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

const stack = useStack();
const exercised = new Set<string>();
const APP_VM = PERSONAS['app-vm'].oid;

interface Call extends Omit<ApiCallOptions, 'method'> {
  params?: Record<string, string>;
  query?: string;
}

/** Calls `method template`, then checks the status, media type, headers and body against the document. */
async function call(method: string, template: string, options: Call = {}): Promise<{ status: number; body: Json }> {
  const { params = {}, query, ...rest } = options;
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name])) + (query ? `?${query}` : '');
  const operation = DOC.paths[template]?.[method];
  expect({ operation: `${method} ${template}`, documented: operation !== undefined }).toEqual({ operation: `${method} ${template}`, documented: true });
  const sent = rest.body;
  const response = await stack().api(path, { ...rest, method: method.toUpperCase() });
  const where = `${method.toUpperCase()} ${path} -> ${response.status}`;
  const spec = operation.responses[String(response.status)];
  expect({ where, documented: spec !== undefined }).toEqual({ where, documented: true });
  const resolved = deref(spec);
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0].trim();
  const media = resolved.content?.[mediaType];
  expect({ where, mediaType, documented: media !== undefined }).toEqual({ where, mediaType, documented: true });
  const body = (/json$/.test(mediaType) ? await response.json() : await response.text()) as Json;
  expect({ where, body, errors: errorsOf(media?.schema ?? {}, body) }).toEqual({ where, body, errors: [] });
  for (const [name, header] of Object.entries(resolved.headers ?? {})) {
    const value = response.headers.get(name);
    expect({ where, header: name, errors: value === null ? ['missing'] : errorsOf(deref(header).schema as Json, value) }).toEqual({ where, header: name, errors: [] });
  }
  const requestSchema = operation.requestBody?.content['application/json']?.schema;
  if (response.status < 300 && requestSchema && sent !== undefined && typeof sent === 'object') {
    expect({ where, sent, errors: errorsOf(requestSchema, sent) }).toEqual({ where, sent, errors: [] });
  }
  exercised.add(`${method} ${template}`);
  return { status: response.status, body };
}

const documentedOperations = (): string[] =>
  Object.entries(DOC.paths).flatMap(([path, item]) => Object.keys(item).filter((key) => METHODS.includes(key)).map((method) => `${method} ${path}`)).sort();

describe('docs/openapi.yaml against the running API', () => {
  // The portal's pages (/, /ask) are for people, not the API: test/integration/portal.test.ts covers them.
  it('is OpenAPI 3.1 and documents exactly the HTTP routes the app registers under /api', () => {
    expect(DOC.openapi).toMatch(/^3\.1\.\d+$/);
    const registered = stack().stack.host.registrations
      .filter((r) => r.kind === 'http' && String(r.trigger.route).startsWith('api/'))
      .flatMap((r) => ((r.trigger.methods as string[] | undefined) ?? []).map((m) => `${m.toLowerCase()} /${String(r.trigger.route)}`))
      .sort();
    expect(registered.length).toBeGreaterThan(0);
    expect(documentedOperations()).toEqual(registered);
  });

  it('health, audit and refusals outside a request match the document', async () => {
    expect((await call('get', '/api/health')).status).toBe(200);
    expect((await call('get', '/api/health', { persona: 'sam' })).body.checks).toBeDefined();
    expect((await call('get', '/api/requests')).body.code).toBe('unauthenticated');
    expect((await call('get', '/api/requests', { headers: { authorization: 'Bearer not-a-token' } })).body.code).toBe('invalid-token');
    expect((await call('get', '/api/csrf-token')).status).toBe(401);
    expect((await call('get', '/api/csrf-token', { persona: 'dave' })).body.header).toBe('x-csrf-token');
    expect((await call('post', '/api/reconcile', { persona: 'sam', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('post', '/api/reconcile', { persona: 'sam', headers: { origin: 'https://evil.example' } })).body.code).toBe('cross-site-request');
    expect((await call('get', '/api/requests', { persona: 'dave', query: 'status=Bogus' })).body.code).toBe('invalid-status');
    expect((await call('get', '/api/requests', { persona: 'dave', query: 'pageSize=0' })).body.code).toBe('invalid-query');
    expect((await call('get', '/api/requests/{id}', { persona: 'dave', params: { id: 'not-a-guid' } })).body.code).toBe('request-not-found');
    expect((await call('post', '/api/requests', { persona: 'dave', body: 'role=x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('post', '/api/requests', { persona: 'dave', body: '{"role":', headers: { 'content-type': 'application/json' } })).body.code).toBe('invalid-json');
    expect((await call('post', '/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT9H' } })).body.code).toBe('duration-too-long');
    expect((await call('post', '/api/requests', { persona: 'log-storage', body: { role: 'Crypto User', scope: '/keys/release-signing-key' } })).body.code).toBe('not-eligible');
    expect((await call('get', '/api/audit', { persona: 'dave' })).body.code).toBe('not-an-auditor');
    expect((await call('get', '/api/audit', { persona: 'alice', query: 'from=yesterday' })).body.code).toBe('invalid-query');
  });

  it('a management-plane request matches the document', async () => {
    const hsmResource = '/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM';
    const submission = { role: 'Managed HSM Contributor', scope: hsmResource, duration: 'PT1H', justification: 'network rules', ticket: 'CHG-4711' };
    const created = await call('post', '/api/requests', { persona: 'dave', body: submission });
    expect(created).toMatchObject({ status: 201, body: { status: 'Pending', plane: 'azure-rbac', hsm: 'azure-rbac', role: 'Managed HSM Contributor' } });
    const id = created.body.id as string;
    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'dave', params: { id }, body: { decision: 'approve' } })).status).toBe(403);
    expect(await call('post', '/api/requests/{id}/decisions', { persona: 'sam', params: { id }, body: { decision: 'approve' } })).toMatchObject({ status: 200, body: { status: 'Active', plane: 'azure-rbac' } });
    expect(await call('post', '/api/requests/{id}/revoke', { persona: 'dave', params: { id }, body: {} })).toMatchObject({ status: 200, body: { status: 'Revoked' } });
  });

  it('a request through its life matches the document', async () => {
    const submission = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 2.0', ticket: null };
    const headers = { 'idempotency-key': 'openapi-release-2.0' };
    const created = await call('post', '/api/requests', { persona: 'dave', body: submission, headers });
    expect(created).toMatchObject({ status: 201, body: { status: 'Pending', ticket: null, grantedAt: null, expiresAt: null } });
    const id = created.body.id as string;
    expect(await call('post', '/api/requests', { persona: 'dave', body: submission, headers })).toMatchObject({ status: 200, body: { id } });
    expect((await call('post', '/api/requests', { persona: 'dave', body: { ...submission, justification: 'other' }, headers })).body.code).toBe('idempotency-key-reused');

    expect(await call('get', '/api/requests/{id}', { persona: 'dave', params: { id } })).toMatchObject({ status: 200, body: { id } });
    expect((await call('get', '/api/requests/{id}', { persona: 'log-storage', params: { id } })).status).toBe(404);
    const page = await call('get', '/api/requests', { persona: 'alice', query: 'status=Pending&pageSize=1' });
    expect(page.status).toBe(200);
    expect(await call('get', '/api/requests', { persona: 'dave', query: 'mine=true' })).toMatchObject({ status: 200, body: { continuation: null } });

    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'sam', params: { id }, body: { decision: 'maybe' } })).body.code).toBe('invalid-body');
    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'alice', params: { id }, body: { decision: 'approve' } })).body.code).toBe('not-an-approver');
    const approved = await call('post', '/api/requests/{id}/decisions', { persona: 'sam', params: { id }, body: { decision: 'approve', comment: 'ok' } });
    expect(approved).toMatchObject({ status: 200, body: { status: 'Active' } });
    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'sean', params: { id }, body: { decision: 'approve' } })).body.code).toBe('not-pending');
    expect((await call('post', '/api/requests/{id}/cancel', { persona: 'dave', params: { id } })).body.code).toBe('invalid-transition');

    expect((await call('post', '/api/requests/{id}/extend', { persona: 'dave', params: { id }, body: { duration: 'PT8H' } })).body.code).toBe('duration-too-long');
    expect((await call('post', '/api/requests/{id}/extend', { persona: 'dave', params: { id }, body: { duration: 'soon' } })).body.code).toBe('invalid-duration');
    const extended = await call('post', '/api/requests/{id}/extend', { persona: 'dave', params: { id }, body: { duration: 'PT30M', justification: 'slow build' } });
    expect(extended).toMatchObject({ status: 200, body: { extension: { status: 'Pending' } } });
    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'sam', params: { id }, body: { decision: 'approve' } })).status).toBe(200);

    expect((await call('post', '/api/requests/{id}/revoke', { persona: 'alice', params: { id } })).body.code).toBe('not-allowed-to-revoke');
    expect(await call('post', '/api/requests/{id}/revoke', { persona: 'dave', params: { id }, body: { reason: 'release done' } })).toMatchObject({ status: 200, body: { status: 'Revoked' } });
  });

  it('cancel and self-approval match the document', async () => {
    const own = await call('post', '/api/requests', { persona: 'sam', body: { role: 'Crypto User', scope: '/keys/app-signing-key', justification: 'rotation test' } });
    expect(own.status).toBe(201);
    const id = own.body.id as string;
    expect((await call('post', '/api/requests/{id}/decisions', { persona: 'sam', params: { id }, body: { decision: 'approve' } })).body.code).toBe('self-approval');
    expect((await call('post', '/api/requests/{id}/cancel', { persona: 'sean', params: { id } })).body.code).toBe('not-requester');
    expect(await call('post', '/api/requests/{id}/cancel', { persona: 'sam', params: { id } })).toMatchObject({ status: 200, body: { status: 'Cancelled' } });
  });

  it('reconciliation and the reports match the document', async () => {
    expect((await call('get', '/api/reconcile/reports/latest', { persona: 'alice' })).body.code).toBe('no-inventory');
    expect((await call('get', '/api/reports/access', { persona: 'alice' })).body.code).toBe('no-inventory');
    expect((await call('post', '/api/reconcile', { persona: 'alice' })).body.code).toBe('not-an-administrator');
    expect((await call('post', '/api/reconcile', { persona: 'sam', query: 'mode=now' })).body.code).toBe('invalid-query');
    const plan = await call('post', '/api/reconcile', { persona: 'sam', query: 'mode=plan' });
    expect(plan.status).toBe(200);
    const run = plan.body.run as { id: string };
    expect((await call('get', '/api/reconcile/reports/{id}', { persona: 'alice', params: { id: run.id } })).status).toBe(200);
    expect((await call('get', '/api/reconcile/reports/{id}', { persona: 'alice', params: { id: 'no.such/run' } })).body.code).toBe('invalid-run-id');
    expect((await call('get', '/api/reconcile/reports/latest', { persona: 'sam' })).status).toBe(200);
    expect((await call('get', '/api/reports/access', { persona: 'alice', query: 'key=app-signing-key' })).status).toBe(200);
    expect((await call('get', '/api/reports/access', { persona: 'alice', query: 'key=nope' })).body.code).toBe('key-not-found');
    expect((await call('get', '/api/reports/keys', { persona: 'alice' })).status).toBe(200);
    expect((await call('get', '/api/reports/usage', { persona: 'alice' })).status).toBe(200);
    expect((await call('get', '/api/reports/usage', { persona: 'dave' })).body.code).toBe('not-an-auditor');
    expect((await call('get', '/api/reports/keys', { persona: 'alice', query: 'days=x' })).body.code).toBe('invalid-query');
    expect((await call('get', '/api/reports/keys', { persona: 'dave' })).body.code).toBe('not-an-auditor');
    expect((await call('get', '/api/reports/keys', { persona: 'dave', headers: { accept: 'text/html' } })).status).toBe(403);
    expect((await call('get', '/api/reports/keys', { headers: { accept: 'text/html' } })).status).toBe(302);
  });

  it('the review page matches the document', async () => {
    const created = await call('post', '/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'review page' } });
    const id = created.body.id as string;
    const keys = (stack().stack.appSettings.REVIEW_LINK_KEYS as string).split(',');
    const token = encodeURIComponent(signReviewToken(id, new Date(Date.now() + 3_600_000), keys));
    const expired = encodeURIComponent(signReviewToken(id, new Date(Date.now() - 1000), keys));
    expect((await call('get', '/api/review/{id}', { params: { id }, query: `t=${token}` })).status).toBe(302);
    expect((await call('get', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}` })).status).toBe(200);
    expect((await call('get', '/api/review/{id}', { persona: 'sam', params: { id }, query: 't=forged.token' })).status).toBe(404);
    expect((await call('get', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${expired}` })).status).toBe(410);
    expect((await call('head', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}` })).status).toBe(200);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await call('post', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}`, body: 'action=approve', headers: form })).status).toBe(403);
    expect((await call('post', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}`, body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(415);
    const nonce = 'openapi-test-nonce-0123456789';
    const csrf = signCsrfToken(PERSONAS.sam.oid, id, nonce, keys);
    const decided = await call('post', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}`, body: `action=approve&csrf=${csrf}&version=1`, headers: { ...form, cookie: `hsmgov-csrf=${nonce}` } });
    expect(decided.status).toBe(303);
    expect((await call('post', '/api/review/{id}', { persona: 'sam', params: { id }, query: `t=${token}`, body: `action=deny&csrf=${csrf}&version=1`, headers: { ...form, cookie: `hsmgov-csrf=${nonce}` } })).status).toBe(409);
  });

  it('eligibility and its explanation match the document, with /keys/* expanded from the HSM and refusals in the same words', async () => {
    type Rule = { id: string; scopes: Array<{ scope: string }>; grantees: Array<{ alias: string; objectId: string }> };
    const dave = (await call('get', '/api/eligibility', { persona: 'dave' })).body.rules as Rule[];
    expect(dave.map((r) => r.id)).toContain('release-signing');
    expect(dave.find((r) => r.id === 'release-signing')?.grantees).toEqual([expect.objectContaining({ alias: 'app-vm', objectId: APP_VM })]);
    const sam = (await call('get', '/api/eligibility', { persona: 'sam' })).body.rules as Rule[];
    expect(sam.find((r) => r.id === 'security-crypto-user')?.scopes.map((s) => s.scope)).toEqual(expect.arrayContaining(['/keys/app-signing-key', '/keys/release-signing-key']));
    expect((await call('get', '/api/eligibility')).body.code).toBe('unauthenticated');
    const allowed = await call('get', '/api/eligibility/explain', { persona: 'dave', query: `role=Crypto%20User&scope=/keys/release-signing-key&principalId=${APP_VM}` });
    expect(allowed.body.allowed).toBe(true);
    const refused = await call('get', '/api/eligibility/explain', { persona: 'dave', query: 'role=Crypto%20User&scope=/keys/release-signing-key' });
    expect(refused.body.allowed).toBe(false);
    expect(refused.body.summary).toContain('you are in Contoso App DevOps');
    expect((await call('get', '/api/eligibility/explain', { persona: 'dave', query: `role=Crypto%20User&scope=/keys/app-signing-key&principalId=${APP_VM}` })).body.summary).toContain('rule release-signing covers /keys/release-signing-key, not /keys/app-signing-key');
    expect((await call('get', '/api/eligibility/explain', { persona: 'dave', query: 'role=Crypto%20User' })).body.code).toBe('invalid-query');
    expect((await call('get', '/api/eligibility/explain', { persona: 'dave', query: 'role=Crypto%20User&scope=/keys/a&principalId=nope' })).body.code).toBe('invalid-principal');
    expect((await call('get', '/api/eligibility/explain', { persona: 'dave', query: 'role=Crypto%20User&scope=keys' })).body.code).toBe('malformed-scope');
    const submitted = await call('post', '/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/app-signing-key', principalId: APP_VM } });
    expect(submitted.body.code).toBe('scope-not-allowed');
    expect(submitted.body.detail).toContain('rule release-signing covers /keys/release-signing-key, not /keys/app-signing-key');
  });

  it('the Teams bot endpoint matches the document', async () => {
    expect((await call('post', '/api/messages', { body: { type: 'invoke', name: 'adaptiveCard/action' } })).status).toBe(401);
  });

  it('the audit trail matches the document, and every documented operation was exercised', async () => {
    const audit = await call('get', '/api/audit', { persona: 'alice', query: `from=${new Date(Date.now() - 3_600_000).toISOString()}` });
    expect(audit.status).toBe(200);
    expect((audit.body.items as unknown[]).length).toBeGreaterThan(0);
    const page = await call('get', '/api/audit', { persona: 'alice', query: 'action=request&limit=1' });
    expect(page.status).toBe(200);
    expect(page.body.continuation).toMatch(/^\d+$/);
    expect((await call('get', '/api/audit', { persona: 'alice', query: 'limit=1000' })).body.code).toBe('invalid-query');
    expect([...exercised].sort()).toEqual(documentedOperations());
  });
});
