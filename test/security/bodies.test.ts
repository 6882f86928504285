// Keeps out oversized and malformed bodies: too large, huge headers, wrong content types, invalid JSON, deep nesting, wrong types, prototype-pollution keys, duplicate keys, bad UTF-8 get a clear 4xx and change nothing.
import { gzipSync } from 'node:zlib';
import { PERSONAS } from '../../dev/personas';
import { APP_VM, problemOf, rawRequest, RELEASE_REQUEST, reviewLink, sessionCookie, settledState, submitted, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();
const LIMIT = 16 * 1024;
const JSON_TYPE = 'application/json';

let pending: string;
let before: StackState;

beforeAll(async () => {
  pending = await submitted(stack(), 'dave');
  await reviewLink(stack(), pending);
  before = await settledState(stack());
});

/**
 * The JSON routes that read a body, each with a body that fits it, as a caller who may send it.
 * (Cancel reads none; revoke and extend may go without one.)
 */
function routes(): Array<{ path: string; persona: string; body: Record<string, unknown>; bodyOptional?: boolean }> {
  return [
    { path: '/api/requests', persona: 'dana', body: { ...RELEASE_REQUEST } },
    { path: `/api/requests/${pending}/decisions`, persona: 'sam', body: { decision: 'approve', comment: 'ok' } },
    { path: `/api/requests/${pending}/revoke`, persona: 'dave', body: { reason: 'done' }, bodyOptional: true },
    { path: `/api/requests/${pending}/extend`, persona: 'dave', body: { duration: 'PT1H' }, bodyOptional: true },
  ];
}

interface Case {
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

/** Malformed bodies for a route whose good body is `good`: each must get this status and problem code. */
function malformed(good: Record<string, unknown>): Array<[string, Case]> {
  const text = JSON.stringify(good);
  const key = Object.keys(good)[0] ?? 'decision';
  return [
    ['over 16 KiB', { body: JSON.stringify({ ...good, padding: 'x'.repeat(LIMIT) }), status: 413, code: 'payload-too-large' }],
    ['over 16 KiB of whitespace around a good body', { body: `${' '.repeat(LIMIT)}${text}`, status: 413, code: 'payload-too-large' }],
    ['text/plain', { body: text, contentType: 'text/plain', status: 415, code: 'unsupported-media-type' }],
    ['a form', { body: new URLSearchParams(good as Record<string, string>).toString(), contentType: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported-media-type' }],
    ['multipart', { body: `--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n${text}\r\n--x--\r\n`, contentType: 'multipart/form-data; boundary=x', status: 415, code: 'unsupported-media-type' }],
    ['application/jsonp', { body: text, contentType: 'application/jsonp', status: 415, code: 'unsupported-media-type' }],
    ['text/json', { body: text, contentType: 'text/json', status: 415, code: 'unsupported-media-type' }],
    ['application/xml', { body: '<request/>', contentType: 'application/xml', status: 415, code: 'unsupported-media-type' }],
    ['truncated JSON', { body: text.slice(0, -1), status: 400, code: 'invalid-json' }],
    ['single quotes', { body: text.replace(/"/g, "'"), status: 400, code: 'invalid-json' }],
    ['a trailing comma', { body: `${text.slice(0, -1)},}`, status: 400, code: 'invalid-json' }],
    ['a comment', { body: `/* x */${text}`, status: 400, code: 'invalid-json' }],
    ['NaN', { body: `{"${key}":NaN}`, status: 400, code: 'invalid-json' }],
    ['a byte order mark', { body: `\ufeff${text}`, status: 400, code: 'invalid-json' }],
    ['UTF-16', { body: Buffer.from(text, 'utf16le'), contentType: 'application/json; charset=utf-16', status: 400, code: 'invalid-json' }],
    ['gzip the service never asked for', { body: gzipSync(text), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'invalid-json' }],
    ['empty', { body: '', status: 400, code: 'invalid-json' }],
    ['deeply nested arrays', { body: `${'['.repeat(5000)}${']'.repeat(5000)}`, status: 400, code: 'invalid-body' }],
    ['deeply nested objects', { body: `${`{"${key}":`.repeat(1000)}1${'}'.repeat(1000)}`, status: 400, code: 'invalid-body' }],
    ['an array', { body: `[${text}]`, status: 400, code: 'invalid-body' }],
    ['a string', { body: '"approve"', status: 400, code: 'invalid-body' }],
    ['a number', { body: '42', status: 400, code: 'invalid-body' }],
    ['null', { body: 'null', status: 400, code: 'invalid-body' }],
    ['a number for a string', { body: JSON.stringify({ ...good, [key]: 3600 }), status: 400, code: 'invalid-body' }],
    ['a boolean for a string', { body: JSON.stringify({ ...good, [key]: true }), status: 400, code: 'invalid-body' }],
    ['an array for a string', { body: JSON.stringify({ ...good, [key]: ['a', 'b'] }), status: 400, code: 'invalid-body' }],
    ['an operator object for a string', { body: JSON.stringify({ ...good, [key]: { $ne: null } }), status: 400, code: 'invalid-body' }],
    ['__proto__', { body: `{"__proto__":{"isAdmin":true,"polluted":"yes"},${text.slice(1)}`, status: 400, code: 'invalid-body' }],
    ['constructor.prototype', { body: JSON.stringify({ ...good, constructor: { prototype: { polluted: 'yes' } } }), status: 400, code: 'invalid-body' }],
    ['prototype', { body: JSON.stringify({ ...good, prototype: { polluted: 'yes' } }), status: 400, code: 'invalid-body' }],
    ['an unknown field', { body: JSON.stringify({ ...good, status: 'Active' }), status: 400, code: 'invalid-body' }],
  ];
}

async function send(path: string, persona: string, call: Case): Promise<{ status: number; contentType: string | null; code: string | undefined }> {
  const response = await stack().api(path, { persona, method: 'POST', body: call.body, headers: { 'content-type': call.contentType ?? JSON_TYPE, ...call.headers } });
  return problemOf(response);
}

describe('oversized and malformed bodies', () => {
  it('each route refuses each malformed body with its problem code', async () => {
    for (const { path, persona, body, bodyOptional } of routes()) {
      for (const [what, call] of malformed(body).filter(([what]) => !(bodyOptional && what === 'empty'))) {
        const route = path.replace(pending, '{id}');
        expect({ route, what, ...(await send(path, persona, call)) }).toEqual({ route, what, status: call.status, contentType: 'application/problem+json', code: call.code });
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(await settledState(stack())).toEqual(before);
  });

  it('a duplicate key is read once, as the last one, and judged as such', async () => {
    // A parser that kept the first value would see a request for app-vm; the service sees (and refuses) one for dana, whom the rule does not allow.
    const body = `{"role":"Crypto User","scope":"/keys/release-signing-key","principalId":"${APP_VM}","duration":"PT1H","justification":"dup","principalId":"${PERSONAS.dana.oid}"}`;
    expect(await problemOf(await stack().api('/api/requests', { persona: 'dave', method: 'POST', body, headers: { 'content-type': JSON_TYPE } }))).toMatchObject({ status: 403, code: 'forbidden-principal' });
    const broader = `{"role":"Crypto User","scope":"/keys/release-signing-key","principalId":"${APP_VM}","duration":"PT1H","justification":"dup","scope":"/"}`;
    expect(await problemOf(await stack().api('/api/requests', { persona: 'dave', method: 'POST', body: broader, headers: { 'content-type': JSON_TYPE } }))).toMatchObject({ status: 403, code: 'scope-not-allowed' });
    const decision = '{"decision":"deny","decision":"approve","decision":"maybe"}';
    expect(await problemOf(await stack().api(`/api/requests/${pending}/decisions`, { persona: 'sam', method: 'POST', body: decision, headers: { 'content-type': JSON_TYPE } }))).toMatchObject({ status: 400, code: 'invalid-body' });
    expect(await settledState(stack())).toEqual(before);
  });

  it('invalid UTF-8 anywhere in a body is refused, free text included', async () => {
    const withBytes = (field: string, bytes: number[]): Buffer => {
      const [head, tail] = JSON.stringify({ ...RELEASE_REQUEST, [field]: '@@' }).split('@@') as [string, string];
      return Buffer.concat([Buffer.from(head), Buffer.from(RELEASE_REQUEST[field as keyof typeof RELEASE_REQUEST] ?? 'x'), Buffer.from(bytes), Buffer.from(tail)]);
    };
    for (const field of ['role', 'scope', 'principalId', 'duration', 'justification']) {
      for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
        const refusal = await problemOf(await stack().api('/api/requests', { persona: 'dana', method: 'POST', body: withBytes(field, bytes), headers: { 'content-type': JSON_TYPE } }));
        expect({ field, bytes, status: refusal.status >= 400 && refusal.status < 500, contentType: refusal.contentType }).toEqual({ field, bytes, status: true, contentType: 'application/problem+json' });
      }
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('bodies over the host limit, huge and many headers, and an oversized review form are refused before anything runs', async () => {
    const api = stack().stack.endpoints.api;
    const token = await stack().tokenFor('dana');
    const tooBig = await stack().api('/api/requests', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 0x20), headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE } });
    expect(tooBig.status).toBe(413);
    const chunked = await rawRequest(`${api}/api/requests`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked' }, body: JSON.stringify({ ...RELEASE_REQUEST, justification: 'x'.repeat(LIMIT) }) });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ code: 'payload-too-large' });
    for (const headers of [{ 'x-padding': 'x'.repeat(64 * 1024) }, Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h${i}`, 'value']))]) {
      const response = await rawRequest(`${api}/api/requests`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(RELEASE_REQUEST) });
      expect(response.status).toBe(431);
    }
    const link = await reviewLink(stack(), pending);
    const form = await fetch(link, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: await sessionCookie(stack(), 'sam'), 'content-type': 'application/x-www-form-urlencoded', origin: api },
      body: `action=approve&comment=${'x'.repeat(10 * 1024)}`,
    });
    expect(form.status).toBe(413);
    expect(await settledState(stack())).toEqual(before);
  });
});
