import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { TableClient } from '@azure/data-tables';
import { silentLogger, type HostLogEntry } from '../../dev/host';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { API_AUDIENCE, startStack, type Stack, type StackOptions } from '../../dev/stack';
import { LEDGER_TABLE } from '../../shared/app';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';

/** Short names for the audiences tests use most. */
export const AUDIENCES = {
  api: API_AUDIENCE,
  hsm: 'https://managedhsm.azure.net',
  arm: 'https://management.azure.com',
} as const;

export interface ApiCallOptions {
  /** Call as this persona (bearer token for the API audience); anonymous when absent. */
  persona?: string;
  method?: string;
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestStack {
  readonly stack: Stack;
  /** Host log lines so far (the host logs nothing to the console in tests). */
  readonly logs: HostLogEntry[];
  /** An access token for a persona; audience `api` (default), `hsm`, `arm` or any URI. */
  tokenFor(persona: string, audience?: keyof typeof AUDIENCES | string): Promise<string>;
  /** The persona as a TokenCredential, for Azure SDK clients pointed at the emulators. */
  credentialFor(persona: string): TokenCredential;
  /** fetch against the Functions host: `api('/api/requests', { persona: 'sam', method: 'POST', body: {...} })`. */
  api(path: string, options?: ApiCallOptions): Promise<Response>;
  /** The app's ledger (requests and audit trail) in the stack's storage. */
  ledger(): PartitionedLedger;
  close(): Promise<void>;
}

export type TestStackOptions = Omit<StackOptions, 'dataDir' | 'ports'>;

/** Starts the whole stack on free ports in a temporary directory; `close()` removes both. */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hsm-governor-stack-'));
  const logs: HostLogEntry[] = [];
  let stack: Stack;
  try {
    stack = await startStack({
      timers: false,
      ...options,
      dataDir,
      ports: 'random',
      logger: (entry) => {
        logs.push(entry);
        (options.logger ?? silentLogger)(entry);
      },
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  const tokenFor = (persona: string, audience: string = 'api'): Promise<string> =>
    stack.idp.issueToken(persona, { audience: AUDIENCES[audience as keyof typeof AUDIENCES] ?? audience });

  return {
    stack,
    logs,
    tokenFor,
    credentialFor: (persona) => new DevPersonaCredential(stack.idp.url, persona),
    api: async (path, call = {}) => {
      const headers: Record<string, string> = { ...call.headers };
      if (call.persona) headers.authorization = `Bearer ${await tokenFor(call.persona)}`;
      let body: string | Uint8Array | undefined;
      if (typeof call.body === 'string' || call.body instanceof Uint8Array) body = call.body;
      else if (call.body !== undefined) {
        body = JSON.stringify(call.body);
        headers['content-type'] ??= 'application/json';
      }
      const method = call.method ?? (body === undefined ? 'GET' : 'POST');
      // The API takes state-changing calls as JSON only, an empty body too: a client says so.
      if (body === undefined && method !== 'GET' && method !== 'HEAD' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      return fetch(`${stack.endpoints.api}${path.startsWith('/') ? '' : '/'}${path}`, { method, headers, body, redirect: 'manual' });
    },
    ledger: () => new PartitionedLedger(TableClient.fromConnectionString(stack.endpoints.storageConnectionString, LEDGER_TABLE, stack.azurite.clientOptions)),
    close: async () => {
      try {
        await stack.close();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Runs `body` against a fresh stack and always closes it. */
export async function withStack<T>(options: TestStackOptions, body: (stack: TestStack) => Promise<T>): Promise<T> {
  const stack = await startTestStack(options);
  try {
    return await body(stack);
  } finally {
    await stack.close();
  }
}

/**
 * One stack for a whole test file: started in beforeAll, closed in afterAll.
 *   const stack = useStack({ seed: 'drifted' });
 *   it('...', async () => { const response = await stack().api('/api/health'); });
 */
export function useStack(options: TestStackOptions = {}): () => TestStack {
  let current: TestStack | undefined;
  beforeAll(async () => {
    current = await startTestStack(options);
  }, 180_000); // generous: a stack starts in seconds, but a loaded machine may take much longer
  afterAll(async () => {
    await current?.close();
    current = undefined;
  });
  return () => {
    if (!current) throw new Error('The stack is not running (use it inside a test, after beforeAll)');
    return current;
  };
}
