/**
 * The cloud emulators of the chaos run (Azurite, the Managed HSM, ARM and Event Grid emulators,
 * the identity provider) in a process of their own: killing app instances, or the test runner
 * being short of CPU, does not starve them, as it never starves Azure. The run talks to them over
 * their sockets, and to this process over IPC for what a test may see of an emulator (the HSM's
 * assignments, fault injection, tokens). Its log goes to `<logDir>/emulators.log`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import type { JWK } from 'jose';
import type { FaultSettings } from '../../dev/emulator-common/faults';
import { LEDGER_TABLE } from '../../shared/app';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { startTestStack, type TestStackOptions } from '../helpers/stack';

export interface ChaosStackInfo {
  appSettings: Record<string, string>;
  jwk: JWK;
  storageConnectionString: string;
  /** Azurite's CA, which a direct client of storageConnectionString trusts. */
  storageCaPem: string;
}

/** An HSM role assignment as the emulator reports it (only what the run reads). */
export interface SeenAssignment {
  properties: { scope: string; principalId: string };
}

export interface ChaosStack extends ChaosStackInfo {
  issueToken(persona: string, audience: string): Promise<string>;
  assignments(): Promise<SeenAssignment[]>;
  setFaults(settings: FaultSettings): Promise<void>;
  ledger(): PartitionedLedger;
  close(): Promise<void>;
}

type Request = { op: 'token'; persona: string; audience: string } | { op: 'assignments' } | { op: 'faults'; settings: FaultSettings } | { op: 'close' };
type Call = Request & { id: number };
type Reply = { id: number; result?: unknown; error?: string };

export async function startChaosStack(options: TestStackOptions, logDir: string): Promise<ChaosStack> {
  const log = createWriteStream(join(logDir, 'emulators.log'), { flags: 'a' });
  const child: ChildProcess = fork(__filename, [JSON.stringify(options)], { execArgv: ['-r', 'ts-node/register/transpile-only'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const info = await new Promise<ChaosStackInfo>((resolve, reject) => {
    child.once('message', (message) => resolve(message as ChaosStackInfo));
    child.once('exit', (code) => reject(new Error(`The emulator process exited (${code}) before it was ready: see ${join(logDir, 'emulators.log')}`)));
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on('message', (message: Reply) => {
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiting?.reject(new Error(message.error));
    else waiting?.resolve(message.result);
  });
  const call = <T>(request: Request): Promise<T> => new Promise<T>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    child.send({ ...request, id });
  });
  return {
    ...info,
    issueToken: (persona, audience) => call<string>({ op: 'token', persona, audience }),
    assignments: () => call<SeenAssignment[]>({ op: 'assignments' }),
    setFaults: (settings) => call<void>({ op: 'faults', settings }),
    ledger: () => new PartitionedLedger(TableClient.fromConnectionString(info.storageConnectionString, LEDGER_TABLE, { tlsOptions: { ca: info.storageCaPem } })),
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await call({ op: 'close' }).catch(() => undefined);
      await exited;
      log.end();
    },
  };
}

async function serve(options: TestStackOptions): Promise<void> {
  const stack = await startTestStack({ ...options, logger: (entry) => console.log(JSON.stringify(entry)) });
  // Only the run's app instances run the app: the stack's own host stops here.
  await stack.stack.host.close();
  const answer = async (message: Call): Promise<unknown> => {
    switch (message.op) {
      case 'token': return stack.stack.idp.issueToken(message.persona, { audience: message.audience });
      case 'assignments': return stack.stack.hsm.assignments().map((a) => ({ properties: { scope: a.properties.scope, principalId: a.properties.principalId } }));
      case 'faults': return stack.stack.hsm.setFaults(message.settings);
      case 'close': return stack.close().finally(() => setImmediate(() => process.exit(0)));
    }
  };
  process.on('message', (message: Call) => {
    answer(message).then(
      (result) => process.send?.({ id: message.id, result } satisfies Reply),
      (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies Reply),
    );
  });
  process.send?.({ appSettings: { ...stack.stack.appSettings }, jwk: stack.stack.idp.publicJwk, storageConnectionString: stack.stack.endpoints.storageConnectionString, storageCaPem: stack.stack.azurite.caPem ?? '' } satisfies ChaosStackInfo);
}

if (require.main === module) {
  serve(JSON.parse(process.argv[2] ?? '{}') as TestStackOptions).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
