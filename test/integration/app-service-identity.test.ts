import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../shared/adapters/config';
import { TENANT_ID } from '../../dev/personas';
import { startTestStack, type TestStack } from '../helpers/stack';

/** What App Service on Linux sets (the address is link-local, plain http, port 8081). */
const APP_SERVICE_ENDPOINT = 'http://169.254.129.2:8081/msi/token';

/**
 * An HTTP forward proxy that takes the requests for App Service's identity endpoint to the local
 * identity provider: the only way, on this machine, to answer at 169.254.129.2:8081. The app reaches it
 * through HTTP_PROXY, as any Azure SDK client honours it; everything on 127.0.0.1 bypasses it (NO_PROXY).
 */
function startIdentityProxy(): Promise<{ server: Server; port: number; seen: string[]; target: { url?: string } }> {
  const seen: string[] = [];
  const target: { url?: string } = {};
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const wanted = new URL(req.url ?? '/');
    if (wanted.host !== '169.254.129.2:8081' || !target.url) {
      res.writeHead(502).end();
      return;
    }
    const upstream = new URL(`${wanted.pathname}${wanted.search}`, target.url);
    const forwarded = httpRequest(upstream, { method: req.method, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.writeHead(502).end());
    req.pipe(forwarded);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, seen, target })));
}

it('accepts the App Service identity endpoint and still refuses plain http elsewhere', () => {
  const base = { AzureWebJobsStorage__accountName: 'stcontoso', AzureWebJobsStorage__credential: 'managedidentity', HSM_URL: 'https://contoso.managedhsm.azure.net', POLICY_FILE: 'examples/contoso/policy.yaml', IDENTITY_HEADER: 'h', AZURE_TENANT_ID: TENANT_ID };
  expect(loadConfig({ ...base, IDENTITY_ENDPOINT: APP_SERVICE_ENDPOINT }).managedIdentity.endpoint).toBe(APP_SERVICE_ENDPOINT);
  expect(() => loadConfig({ ...base, IDENTITY_ENDPOINT: 'http://identity.example.com:8081/msi/token' })).toThrow(/IDENTITY_ENDPOINT must be an https URL/);
});

describe('with IDENTITY_ENDPOINT as App Service sets it', () => {
  let proxy: Awaited<ReturnType<typeof startIdentityProxy>>;
  let stack: TestStack;

  beforeAll(async () => {
    proxy = await startIdentityProxy();
    stack = await startTestStack({
      env: { IDENTITY_ENDPOINT: APP_SERVICE_ENDPOINT, HTTP_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: '127.0.0.1,localhost' },
    });
    proxy.target.url = stack.stack.idp.url;
  });

  afterAll(async () => {
    await stack?.close();
    await new Promise((done) => proxy?.server.close(done));
  });

  it('the app gets its tokens there: health is green, its HSM probe signed in as the service', async () => {
    const health = await stack.api('/api/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect(proxy.seen.some((line) => line.startsWith(`GET ${APP_SERVICE_ENDPOINT}?`))).toBe(true);
  });
});
