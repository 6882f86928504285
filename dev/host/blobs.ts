import type { CoreBinding } from './functionsCore';
import { invokeFunction, type InvocationEnvironment } from './invoke';
import { resolveAppSettingReference, type FunctionRegistration } from './registrations';
import { blobServiceFor, resolveBlobConnection } from './storageConnection';

/**
 * The blob trigger with `source: 'EventGrid'`, as the Storage extension serves it: Event Grid
 * delivers `Microsoft.Storage.BlobCreated` events (Event Grid schema) to
 * `POST /runtime/webhooks/blobs?functionName=Host.Functions.{name}&code={blobs_extension key}`; the
 * extension matches the blob against the trigger's `path`, reads it through the trigger's
 * `connection` and runs the function with its content and the `{name}` binding data.
 */
export const BLOB_CREATED_EVENT_TYPE = 'Microsoft.Storage.BlobCreated';
/** What the extension prefixes every function name with in the webhook's `functionName`. */
export const FUNCTION_NAME_PREFIX = 'Host.Functions.';

export interface BlobTarget {
  readonly container: string;
  readonly blobName: string;
  readonly url: string;
}

/** The container and blob an event names (its `data.url`, else its subject `/blobServices/default/containers/{c}/blobs/{name}`). */
export function blobOfEvent(event: Record<string, unknown>): BlobTarget | undefined {
  const data = (event.data ?? {}) as Record<string, unknown>;
  if (typeof data.url === 'string') {
    try {
      const url = new URL(data.url);
      // Azurite puts the account in the path (http://127.0.0.1:10000/devstoreaccount1/c/b); Azure in the host name.
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const path = /^(\d+\.){3}\d+$|^localhost$/.test(url.hostname) ? parts.slice(1) : parts;
      if (path.length >= 2) return { container: path[0], blobName: path.slice(1).join('/'), url: data.url };
    } catch {
      // fall through to the subject
    }
  }
  const subject = typeof event.subject === 'string' ? /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/.exec(event.subject) : null;
  return subject ? { container: subject[1], blobName: subject[2], url: typeof data.url === 'string' ? data.url : '' } : undefined;
}

/**
 * Matches a blob against a trigger path `container/{name}` or `container/prefix{name}.json`: the
 * container literally, the rest with each `{param}` standing for any text. Returns the binding data.
 */
export function matchBlobPath(path: string, target: BlobTarget): Record<string, string> | undefined {
  const slash = path.indexOf('/');
  const container = slash < 0 ? path : path.slice(0, slash);
  const pattern = slash < 0 ? '{name}' : path.slice(slash + 1);
  if (container.toLowerCase() !== target.container.toLowerCase()) return undefined;
  const names: string[] = [];
  const source = pattern.split(/(\{[^}]+\})/).map((part) => {
    const param = /^\{([^}]+)\}$/.exec(part);
    if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    names.push(param[1]);
    return '(.+)';
  }).join('');
  const match = new RegExp(`^${source}$`).exec(target.blobName);
  if (!match) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, match[i + 1]]));
}

/** Reads the blob through the trigger's connection (a connection string, or identity-based `__blobServiceUri`), as the host resolves connections. */
export async function downloadTriggerBlob(trigger: CoreBinding, target: BlobTarget, env: NodeJS.ProcessEnv = process.env): Promise<{ content: Buffer; properties: Record<string, unknown> }> {
  const connection = typeof trigger.connection === 'string' && trigger.connection ? resolveAppSettingReference(trigger.connection, env) : undefined;
  const blob = blobServiceFor(resolveBlobConnection(connection, env), env).getContainerClient(target.container).getBlobClient(target.blobName);
  const content = await blob.downloadToBuffer();
  const properties = await blob.getProperties();
  return { content, properties: { length: Number(properties.contentLength ?? content.length), eTag: properties.etag, contentType: properties.contentType, lastModified: properties.lastModified?.toISOString() } };
}

/**
 * Runs a blob-triggered function for one blob, with the blob's content as its input and the path's
 * binding data (`name`, ...) with `blobTrigger`, `uri` and `properties` as its trigger metadata.
 * False when the blob does not match the trigger's path (the function is not run).
 */
export async function runBlobFunction(registration: FunctionRegistration, target: BlobTarget, invocation: InvocationEnvironment, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = resolveAppSettingReference(String(registration.trigger.path ?? ''), env);
  const bindingData = matchBlobPath(path, target);
  if (!bindingData) return false;
  const { content, properties } = await downloadTriggerBlob(registration.trigger, target, env);
  await invokeFunction(registration, [content], invocation, { ...bindingData, blobTrigger: `${target.container}/${target.blobName}`, uri: target.url, properties });
  return true;
}
