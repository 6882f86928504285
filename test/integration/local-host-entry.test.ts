import { join } from 'node:path';
import { startFunctionsHost, type FunctionsHost, type HostLogEntry } from '../../dev/host';

// The local host must not hide what Azure does with an entry that throws while loading: the Node worker
// logs a warning and keeps only what registered before the throw (azure-functions-nodejs-worker startApp).
describe('an entry that throws while loading', () => {
  const logs: HostLogEntry[] = [];
  let host: FunctionsHost;

  beforeAll(async () => {
    host = await startFunctionsHost({ port: 0, timers: false, queues: false, entry: join(__dirname, '../fixtures/throwing-entry/index.ts'), logger: (entry) => logs.push(entry) });
  });
  afterAll(() => host?.close());

  it('starts anyway, with a warning naming the entry and the error', () => {
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warning', message: expect.stringMatching(/^Worker was unable to load entry point ".*throwing-entry.*": .*the policy is broken/) }));
  });

  it('serves only what registered before the throw; everything else is 404', async () => {
    expect(host.registrations.map((r) => r.name)).toEqual(['before-the-throw']);
    expect((await fetch(`${host.apiUrl}/before`)).status).toBe(200);
    expect((await fetch(`${host.apiUrl}/health`)).status).toBe(404);
  });

  it('honours the empty routePrefix of host.json as Azure does: routes sit at the root, / is the host page when no route takes it', async () => {
    expect(host.apiUrl).toBe(host.url);
    expect((await fetch(`${host.url}/before`)).status).toBe(200);
    expect((await fetch(`${host.url}/api/before`)).status).toBe(404);
    const root = await fetch(`${host.url}/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toContain('Local Functions host is running');
  });
});
