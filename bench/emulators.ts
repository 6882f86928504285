/**
 * The emulators a benchmark talks to, in a process of their own: the identity provider, the Managed
 * HSM emulator (seeded, with a throttle) and Azurite in memory. In the benchmark's own process they
 * would share its one JavaScript thread with the code being measured, which the real HSM and Table
 * Storage never do. Started by `startEmulatorProcess`; answers with its endpoints over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { startAzurite } from '../dev/azurite';
import { startHsmEmulator } from '../dev/hsm-emulator';
import { startIdentityProvider } from '../dev/idp/server';

export interface EmulatorSettings {
  seedFile: string;
  pageSize: number;
  requestsPerSecond: number;
}

export interface EmulatorEndpoints {
  idpUrl: string;
  hsmUrl: string;
  hsmCaPem: string;
  storageConnectionString: string;
}

export interface EmulatorProcess extends EmulatorEndpoints {
  close(): Promise<void>;
}

export async function startEmulatorProcess(settings: EmulatorSettings): Promise<EmulatorProcess> {
  const child: ChildProcess = fork(__filename, [JSON.stringify(settings)], { execArgv: ['-r', 'ts-node/register/transpile-only'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const endpoints = await new Promise<EmulatorEndpoints>((resolve, reject) => {
    child.once('message', (message) => resolve(message as EmulatorEndpoints));
    child.once('exit', (code) => reject(new Error(`The emulator process exited (${code}) before it was ready`)));
  });
  return {
    ...endpoints,
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('close');
      await exited;
    },
  };
}

async function serve(settings: EmulatorSettings): Promise<void> {
  const idp = await startIdentityProvider({ port: 0 });
  const [hsm, azurite] = await Promise.all([
    startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: settings.seedFile, pageSize: settings.pageSize, faults: { requestsPerSecond: settings.requestsPerSecond } }),
    startAzurite({ ports: { blob: 0, queue: 0, table: 0 } }),
  ]);
  process.on('message', (message) => {
    if (message !== 'close') return;
    void Promise.all([hsm.close(), azurite.close(), idp.close()]).finally(() => process.exit(0));
  });
  process.send?.({ idpUrl: idp.url, hsmUrl: hsm.url, hsmCaPem: hsm.caPem, storageConnectionString: azurite.connectionString } satisfies EmulatorEndpoints);
}

if (require.main === module) {
  serve(JSON.parse(process.argv[2] ?? '{}') as EmulatorSettings).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
