import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { StoragePipelineOptions } from '@azure/storage-queue';
import { loadOrCreateTlsMaterial } from './tls/certificate';

/**
 * Azurite's blob, queue and table services, in this process. In memory unless given a directory
 * (then state survives restarts, as for `npm start`). API-version checks are skipped and
 * unknown headers tolerated (`--skipApiVersionCheck --loose`); telemetry is never started.
 *
 * With `oauth` it serves HTTPS (`--cert`/`--key`, from a private CA kept in `tlsDirectory`) and takes
 * bearer tokens (`--oauth basic`) beside the account key, as a storage account that allows both does:
 * the app then reaches it through the same identity-based connection it uses in Azure. Azurite's
 * basic level checks a token's issuer (sts.windows.net/...), audience (https://storage.azure.com or
 * the account's service URL) and lifetime, not its signature nor any data role.
 */

export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
/** The well-known development storage key, the same in every Azurite. */
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export const DEFAULT_AZURITE_PORTS = { blob: 10000, queue: 10001, table: 10002 } as const;

export interface AzuriteOptions {
  /** Keep state on disk here; in memory when absent. */
  location?: string;
  /** Per-service ports; 0 picks free ones (default 10000-10002). */
  ports?: { blob?: number; queue?: number; table?: number };
  /** HTTPS and bearer tokens (`--oauth basic`), with the CA and server certificate kept in `tlsDirectory`. */
  oauth?: { tlsDirectory: string };
}

/**
 * Options for an Azure SDK client that talks to this Azurite directly: its CA trusted, or plain http
 * allowed. The queue and blob SDKs pass `tlsOptions` on to core-rest-pipeline, though their option
 * type does not list it.
 */
export interface AzuriteClientOptions extends Pick<StoragePipelineOptions, 'userAgentOptions'> {
  allowInsecureConnection?: boolean;
  tlsOptions?: { ca: string };
}

export interface Azurite {
  /** The account key's connection string (`https` endpoints with `oauth`), for direct reads by tests and tools. */
  readonly connectionString: string;
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  readonly tableEndpoint: string;
  /** The CA that signed Azurite's certificate (with `oauth`), as PEM and as a file. */
  readonly caPem?: string;
  readonly caFile?: string;
  /** What an SDK client reading Azurite directly needs (pass to fromConnectionString). */
  readonly clientOptions: AzuriteClientOptions;
  close(): Promise<void>;
}

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
  /** Azurite's (stoppable-wrapped) node server; `close()` asks it to stop but does not wait. */
  readonly httpServer: Server;
}

type ServerConstructor = new (configuration: unknown) => AzuriteServer;
type ConfigurationConstructor = new (...args: unknown[]) => unknown;

/* eslint-disable @typescript-eslint/no-require-imports -- Azurite ships no typings for its server classes. */
function load(): {
  BlobServer: ServerConstructor; BlobConfiguration: ConfigurationConstructor;
  QueueServer: ServerConstructor; QueueConfiguration: ConfigurationConstructor;
  TableServer: ServerConstructor; TableConfiguration: ConfigurationConstructor;
  MemoryExtentChunkStore: new (sizeLimit?: number) => unknown;
} {
  return {
    BlobServer: require('azurite/dist/src/blob/BlobServer').default,
    BlobConfiguration: require('azurite/dist/src/blob/BlobConfiguration').default,
    QueueServer: require('azurite/dist/src/queue/QueueServer').default,
    QueueConfiguration: require('azurite/dist/src/queue/QueueConfiguration').default,
    TableServer: require('azurite/dist/src/table/TableServer').default,
    TableConfiguration: require('azurite/dist/src/table/TableConfiguration').default,
    MemoryExtentChunkStore: require('azurite/dist/src/common/persistence/MemoryExtentStore').MemoryExtentChunkStore,
  };
}
/* eslint-enable @typescript-eslint/no-require-imports */

const HOST = '127.0.0.1';
const KEEP_ALIVE_SECONDS = 5;
const MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;

async function stop(server: AzuriteServer): Promise<void> {
  const http = server.httpServer;
  const closed = http.listening ? once(http, 'close') : Promise.resolve();
  await server.close();
  await closed;
}

function endpointOf(server: AzuriteServer): string {
  return `${server.getHttpServerAddress()}/${DEV_ACCOUNT_NAME}`;
}

export function developmentConnectionString(endpoints: { blob: string; queue: string; table: string }): string {
  return [
    `DefaultEndpointsProtocol=${new URL(endpoints.table).protocol.replace(':', '')}`,
    `AccountName=${DEV_ACCOUNT_NAME}`,
    `AccountKey=${DEV_ACCOUNT_KEY}`,
    `BlobEndpoint=${endpoints.blob}`,
    `QueueEndpoint=${endpoints.queue}`,
    `TableEndpoint=${endpoints.table}`,
  ].join(';') + ';';
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const classes = load();
  const ports = { ...DEFAULT_AZURITE_PORTS, ...options.ports };
  const inMemory = options.location === undefined;
  const dir = options.location;
  if (dir) mkdirSync(dir, { recursive: true });
  const file = (name: string): string => (dir ? join(dir, name) : name);
  const extentLocations = (name: string): unknown[] => [{ locationId: 'Default', locationPath: file(name), maxConcurrency: 1 }];
  const tls = options.oauth ? await loadOrCreateTlsMaterial(options.oauth.tlsDirectory, 'Azurite') : undefined;
  const [cert, key, oauth] = tls ? [tls.serverCertFile as string, tls.serverKeyFile as string, 'basic'] : ['', '', undefined];

  // Positional arguments as the Azurite CLIs pass them: host, port, keep-alive, metadata db, [extent db,
  // extent locations,] access log, its stream, debug log, its file, loose, skipApiVersionCheck, cert, key,
  // pwd, oauth, disableProductStyleUrl, inMemoryPersistence[, memory store].
  const blob = new classes.BlobServer(new classes.BlobConfiguration(
    HOST, ports.blob, KEEP_ALIVE_SECONDS, file('__azurite_db_blob__.json'), file('__azurite_db_blob_extent__.json'), extentLocations('__blobstorage__'),
    false, undefined, false, undefined, true, true, cert, key, '', oauth, false, inMemory, inMemory ? new classes.MemoryExtentChunkStore(MEMORY_LIMIT_BYTES) : undefined,
  ));
  const queue = new classes.QueueServer(new classes.QueueConfiguration(
    HOST, ports.queue, KEEP_ALIVE_SECONDS, file('__azurite_db_queue__.json'), file('__azurite_db_queue_extent__.json'), extentLocations('__queuestorage__'),
    false, undefined, false, undefined, true, true, cert, key, '', oauth, false, inMemory, inMemory ? new classes.MemoryExtentChunkStore(MEMORY_LIMIT_BYTES) : undefined,
  ));
  const table = new classes.TableServer(new classes.TableConfiguration(
    HOST, ports.table, KEEP_ALIVE_SECONDS, file('__azurite_db_table__.json'),
    false, false, undefined, undefined, true, true, cert, key, '', oauth, false, inMemory,
  ));

  const started: AzuriteServer[] = [];
  try {
    for (const [name, server, port] of [['blob', blob, ports.blob], ['queue', queue, ports.queue], ['table', table, ports.table]] as const) {
      try {
        await server.start();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(code === 'EADDRINUSE' ? `Azurite ${name} port ${port} is already in use (is another local stack running?)` : `Azurite ${name} did not start: ${String(error)}`);
      }
      started.push(server);
    }
  } catch (error) {
    await Promise.allSettled(started.map(stop));
    throw error;
  }

  const endpoints = { blob: endpointOf(blob), queue: endpointOf(queue), table: endpointOf(table) };
  let closing: Promise<void> | undefined;
  return {
    connectionString: developmentConnectionString(endpoints),
    blobEndpoint: endpoints.blob,
    queueEndpoint: endpoints.queue,
    tableEndpoint: endpoints.table,
    ...(tls ? { caPem: tls.caPem, caFile: tls.caFile } : {}),
    clientOptions: tls ? { tlsOptions: { ca: tls.caPem } } : { allowInsecureConnection: true },
    close: () => {
      closing ??= Promise.allSettled([table, queue, blob].map(stop)).then(() => undefined);
      return closing;
    },
  };
}
