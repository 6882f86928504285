import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, relative } from 'node:path';
import { HSM_RESOURCE, startHsmEmulator, type HsmEmulator, type HsmSeed } from '../../dev/hsm-emulator';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';

/**
 * Conformance: every recorded session of a real Managed HSM is replayed against the emulator, which
 * must answer with the recorded status, the same challenge, the same region and network headers and
 * bodies of the same shape.
 */
// Copies of the Azure SDK's public test recordings, JavaScript and Java (see SOURCES.json there), so that CI needs nothing outside the repository.
const RECORDINGS = join(__dirname, '..', 'fixtures', 'hsm-recordings');
// Recordings kept next to the checkout (../shared/recordings), replayed too when they are there.
const SHARED_RECORDINGS = join(__dirname, '..', '..', '..', 'shared', 'recordings');

interface Entry {
  RequestUri: string;
  RequestMethod: string;
  RequestBody: unknown;
  StatusCode: number;
  ResponseHeaders: Record<string, string>;
  ResponseBody: unknown;
}

function recordingFiles(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? recordingFiles(join(directory, entry.name)) : entry.name.endsWith('.json') && entry.name !== 'SOURCES.json' ? [join(directory, entry.name)] : [],
  );
}

/** The structure of a JSON value: keys and value types, with arrays described by their first item. */
function shape(value: unknown): unknown {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (typeof value === 'object') {
    return Object.fromEntries(Object.keys(value as object).sort().map((key) => [key, shape((value as Record<string, unknown>)[key])]));
  }
  return typeof value;
}

/** The custom roles the recorded HSM already held, so that requests naming them find them. */
function customRolesSeen(entries: Entry[]): NonNullable<HsmSeed['roleDefinitions']> {
  const roles = new Map<string, NonNullable<HsmSeed['roleDefinitions']>[number]>();
  for (const entry of entries) {
    const value = (entry.ResponseBody as { value?: Array<{ name: string; properties: { type: string; roleName: string; permissions: Array<{ dataActions: string[] }> } }> } | null)?.value;
    for (const definition of value ?? []) {
      if (definition.properties?.type !== 'CustomRole') continue;
      roles.set(definition.name, { name: definition.name, roleName: definition.properties.roleName, dataActions: definition.properties.permissions.flatMap((p) => p.dataActions) });
    }
  }
  return [...roles.values()];
}

function send(hsm: HsmEmulator, entry: Entry, token: string | undefined): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  // The host is sanitized differently per language (`Sanitized.managedhsm.azure.net`, `REDACTED`).
  const path = entry.RequestUri.replace(/^https:\/\/[^/]+/, '');
  const body = entry.RequestBody === null || entry.RequestBody === undefined || entry.RequestBody === '' ? undefined : JSON.stringify(entry.RequestBody);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: hsm.port,
        method: entry.RequestMethod,
        path,
        ca: hsm.caPem,
        headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every recording once, by its path under its folder: the repository's copy wins over the one next to the checkout. */
function allRecordings(): Array<[string, string]> {
  const byName = new Map<string, string>();
  for (const root of [SHARED_RECORDINGS, RECORDINGS]) {
    for (const file of recordingFiles(root)) byName.set(relative(root, file), file);
  }
  return [...byName.entries()].sort(([a], [b]) => a.localeCompare(b));
}

const files = allRecordings();
let idp: IdentityProvider;
let token: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  token = await idp.issueToken('sam', { audience: HSM_RESOURCE });
});

afterAll(async () => {
  await idp.close();
});

it('finds the recorded sessions', () => {
  expect(files.length).toBeGreaterThanOrEqual(20);
});

describe.each(files)('replays %s', (_name, file) => {
  it('with the recorded statuses, challenge and body shapes', async () => {
    const entries = (JSON.parse(readFileSync(file, 'utf8')) as { Entries: Entry[] }).Entries;
    const hsm = await startHsmEmulator({
      issuer: idp.issuer,
      jwk: idp.publicJwk,
      tenantId: idp.tenantId,
      seed: {
        roleDefinitions: customRolesSeen(entries),
        roleAssignments: [
          { name: '6c3a4c0e-3b1e-4a53-9b7e-3d2f0b7c1a11', scope: '/', role: 'Managed HSM Administrator', principalId: PERSONAS.sam.oid },
          { name: '6c3a4c0e-3b1e-4a53-9b7e-3d2f0b7c1a12', scope: '/', role: 'Managed HSM Crypto User', principalId: PERSONAS.sam.oid },
        ],
      },
      pageSize: 100,
    });
    try {
      for (const entry of entries) {
        const anonymous = entry.StatusCode === 401;
        const answer = await send(hsm, entry, anonymous ? undefined : token);
        const where = `${entry.RequestMethod} ${entry.RequestUri}`;
        expect({ where, status: answer.status }).toEqual({ where, status: entry.StatusCode });
        for (const name of ['x-ms-keyvault-region', 'x-ms-keyvault-network-info']) {
          const recorded = Object.keys(entry.ResponseHeaders).some((header) => header.toLowerCase() === name);
          expect({ where, [name]: answer.headers[name] !== undefined }).toEqual({ where, [name]: recorded });
        }
        if (anonymous) {
          expect(answer.headers['www-authenticate']).toBe(
            entry.ResponseHeaders['WWW-Authenticate'].replace(/microsoftonline\.com\/[0-9a-f-]+/, `microsoftonline.com/${idp.tenantId}`),
          );
          expect(answer.text).toBe(entry.ResponseBody === null || entry.ResponseBody === undefined ? '' : String(entry.ResponseBody));
          continue;
        }
        const body = answer.text ? JSON.parse(answer.text) : null;
        expect({ where, shape: shape(body) }).toEqual({ where, shape: shape(entry.ResponseBody) });
        const recordedError = (entry.ResponseBody as { error?: { code: string } } | null)?.error;
        if (recordedError) {
          expect(body.error.code).toBe(recordedError.code);
          expect(body.error.message).toMatch(/\(Activity ID: [0-9a-f-]+\)$/);
        }
      }
    } finally {
      await hsm.close();
    }
  });
});
