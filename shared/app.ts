import type { TokenCredential } from '@azure/core-auth';
import type { TableClient } from '@azure/data-tables';
import { CONFIG_SETTING_NAMES, loadConfig, type AppConfig } from './adapters/config';
import { createServiceCredential } from './adapters/credentials';
import { createHsmAccessControlClient, type HsmAccessControlClient } from './adapters/hsm-rbac';
import { createTableClient, pingStorage } from './adapters/storage/tables';

export type { HsmAccessControlClient } from './adapters/hsm-rbac';

/** Everything a function needs from the outside world, built once from the app settings. */
export interface AppContext {
  readonly config: AppConfig;
  /** The service's managed identity. */
  readonly credential: TokenCredential;
  /** The governed HSM's RBAC client, acting as the service's identity. */
  hsm(): HsmAccessControlClient;
  tableClient(tableName: string): TableClient;
  pingStorage(abortSignal?: AbortSignal): Promise<void>;
}

/** Builds the context from app settings; throws ConfigurationError when they are not valid. */
export function createAppContext(env: NodeJS.ProcessEnv = process.env): AppContext {
  const config = loadConfig(env);
  const credential = createServiceCredential(config.managedIdentity);
  let hsm: HsmAccessControlClient | undefined;
  const tables = new Map<string, TableClient>();
  return {
    config,
    credential,
    hsm: () => {
      hsm ??= createHsmAccessControlClient({ url: config.hsmUrl, credential, ...(config.hsmCaPem ? { caPem: config.hsmCaPem } : {}) });
      return hsm;
    },
    tableClient: (tableName) => {
      let client = tables.get(tableName);
      if (!client) {
        client = createTableClient(config.storage, tableName, credential);
        tables.set(tableName, client);
      }
      return client;
    },
    pingStorage: (abortSignal) => pingStorage(config.storage, credential, abortSignal),
  };
}

let cached: { fingerprint: string; context: AppContext } | undefined;

function settingsFingerprint(env: NodeJS.ProcessEnv): string {
  return JSON.stringify(CONFIG_SETTING_NAMES.map((name) => env[name] ?? null));
}

/**
 * The process's context, built on first use. It is remembered together with the settings it was
 * built from: in Azure those never change, while a local host that restarts in the same process
 * with other settings gets a context that matches them.
 */
export function appContext(): AppContext {
  const fingerprint = settingsFingerprint(process.env);
  if (!cached || cached.fingerprint !== fingerprint) cached = { fingerprint, context: createAppContext(process.env) };
  return cached.context;
}
