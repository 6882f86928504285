import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { bearerToken, emulatorTokenVerifier, type TokenIssuerOptions } from '../emulator-common/auth';
import { listenOnLoopback } from '../emulator-common/server';
import { emulatorTlsMaterial } from '../emulator-common/tls';
import { authenticateBearer, authenticatePublisher, EVENTGRID_AUDIENCES, type AuthOutcome, type EntraPublishing } from './auth';
import { Dispatcher, type DeliveryRecord } from './delivery';
import {
  eventTypeOf, MAX_PUBLISH_BYTES, parsePublishBody, PublishError, stampEventGridEvent, subjectOf, topicResourceId,
  type EventSchema, type JsonObject,
} from './events';
import { matches, readSubscription, redactedUrl, SubscriptionError, validateEndpoint, type ActiveSubscription, type EventGridSubscription } from './subscriptions';

/**
 * A local Event Grid custom topic: `POST /api/events` as the service's `EventGridPublisherClient`
 * uses it (HTTPS; a Microsoft Entra token, or the access key or SAS where local auth is allowed;
 * one input schema, CloudEvents 1.0 or the Event Grid schema), and push delivery to webhook
 * subscriptions with Event Grid's handshakes, headers, filters and retries.
 */

export type { DeliveryRecord } from './delivery';
export type { EventGridSubscription } from './subscriptions';
export type { EventSchema } from './events';
export { BLOB_CREATED, blobCreatedEvent, type CreatedBlob } from './storageEvents';

export interface EventGridEmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** The topic's name, used in its resource id (default `hsm-access-governor`). */
  topicName?: string;
  /** The topic's access key; default a random base64 key (kept in dataDir when there is one). */
  accessKey?: string;
  /** Subscriptions to add at start; each must pass its handshake or start-up fails. */
  subscriptions?: EventGridSubscription[];
  /** Waits before the 2nd, 3rd, ... attempt; the last one repeats. Default [200, 1000, 5000, 10000]. */
  retryDelaysMs?: number[];
  /** Keeps received events, the access key and the TLS certificates here across restarts. */
  dataDir?: string;
  /** Where delivery outcomes and handshakes are reported (default: nowhere). */
  log?: (message: string) => void;
  /** The topic's input schema (default `CloudEventSchemaV1_0`); posts in the other schema are refused, as in Azure. */
  inputSchema?: EventSchema;
  /** Microsoft Entra tokens of this issuer are accepted (audience `https://eventgrid.azure.net`); `dataSenders` narrows who may send. */
  entra?: TokenIssuerOptions & { dataSenders?: string[] };
  /** false refuses the access key and SAS tokens, as a topic with `disableLocalAuth` does (default true). */
  localAuth?: boolean;
  /**
   * A system topic instead of a custom one: the ARM id of the Azure resource whose events it carries
   * (a storage account). Its events are raised by that resource (`raise`), in the Event Grid schema;
   * nobody publishes to it, so it serves no topic endpoint.
   */
  systemTopicSource?: string;
}

export interface ReceivedEvent {
  receivedAt: string;
  schema: EventSchema;
  event: Record<string, unknown>;
}

export interface EventGridEmulator {
  /** The topic endpoint for EventGridPublisherClient: `https://127.0.0.1:{port}/api/events`. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly topicName: string;
  readonly inputSchema: EventSchema;
  /** The `topic` stamped into Event Grid schema events (and `source` of converted CloudEvents). */
  readonly topicResourceId: string;
  /** The CA that signed the server certificate: pass it as `tlsOptions: { ca: caPem }` to the SDK client. */
  readonly caPem: string;
  /** A file holding caPem (for NODE_EXTRA_CA_CERTS or an app setting). */
  readonly caFile: string;
  received(): ReceivedEvent[];
  deliveries(): DeliveryRecord[];
  /** The subscriptions, their endpoints with query values (webhook codes, keys) redacted, as Azure shows only an endpoint's base URL. */
  subscriptions(): EventGridSubscription[];
  /** Runs the validation handshake, then adds (or replaces) the subscription; rejects if the endpoint fails it. */
  addSubscription(subscription: EventGridSubscription): Promise<void>;
  /** Resolves once `predicate(deliveries)` holds (default: none pending); rejects after timeoutMs (default 10 s). */
  waitForDeliveries(predicate?: (deliveries: DeliveryRecord[]) => boolean, timeoutMs?: number): Promise<void>;
  /** A system topic: the resource raises these events (Event Grid schema), delivered to the matching subscriptions. */
  raise(events: Record<string, unknown>[]): void;
  /** Forgets received events and finished deliveries. */
  clearEvents(): void;
  close(): Promise<void>;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [200, 1000, 5000, 10000];
export const DEFAULT_TOPIC_NAME = 'hsm-access-governor';
export const TOPIC_PATH = '/api/events';
const EVENTS_FILE = 'received-events.jsonl';
const ACCESS_KEY_FILE = 'access-key';
const MAX_ADMIN_BODY_BYTES = 64 * 1024;
/**
 * A batch over 1 MB is still read to its end (and thrown away) up to this size, so the client sees
 * the 413 instead of a connection reset in the middle of its upload.
 */
const MAX_DRAINED_BYTES = 16 * 1024 * 1024;
const DEFAULT_WAIT_MS = 10_000;

function resolveAccessKey(given: string | undefined, dataDir: string | undefined): string {
  if (given !== undefined) {
    if (!given) throw new Error('accessKey must not be empty');
    return given;
  }
  const file = dataDir ? join(dataDir, ACCESS_KEY_FILE) : undefined;
  if (file && existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = randomBytes(32).toString('base64');
  if (file) writeFileSync(file, key, { mode: 0o600 });
  return key;
}

function checkRetryDelays(delays: number[] | undefined): readonly number[] {
  if (delays === undefined) return DEFAULT_RETRY_DELAYS_MS;
  if (!Array.isArray(delays) || !delays.every((d) => Number.isFinite(d) && d >= 0)) throw new Error('retryDelaysMs must be a list of non-negative numbers of milliseconds');
  return [...delays];
}

/** A subscription as the admin API and `subscriptions()` show it: never with the secrets its endpoint URL carries. */
function redactedDefinition(subscription: ActiveSubscription): EventGridSubscription {
  return { ...structuredClone(subscription.definition), endpoint: redactedUrl(subscription.endpoint) };
}

function isReceivedEvent(value: unknown): value is ReceivedEvent {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<ReceivedEvent>;
  return typeof candidate.receivedAt === 'string'
    && (candidate.schema === 'CloudEventSchemaV1_0' || candidate.schema === 'EventGridSchema')
    && typeof candidate.event === 'object' && candidate.event !== null;
}

/** Lines that are not a received event (a torn last write, say) are skipped rather than fatal. */
function loadReceived(file: string | undefined): ReceivedEvent[] {
  if (!file || !existsSync(file)) return [];
  const events: ReceivedEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed: unknown = JSON.parse(line);
      if (isReceivedEvent(parsed)) events.push(parsed);
    } catch {
      // skipped, see above
    }
  }
  return events;
}

/** What every answer of a real topic carries besides its own headers; the topic endpoint's also name its api-version. */
function setServiceHeaders(res: ServerResponse, topicEndpoint: boolean): void {
  res.setHeader('x-ms-request-id', randomUUID());
  res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  if (topicEndpoint) res.setHeader('api-supported-versions', '2018-01-01');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * Event Grid's error body: `{ error: { code, message, details: [{ code, message }] } }`; the detail
 * may name a finer code (a real 404 is `NotFound` with the detail `ResourceNotFound`).
 */
function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}, detailCode = code): void {
  sendJson(res, status, { error: { code, message, details: [{ code: detailCode, message }] } }, headers);
}

/** A path the topic does not serve, answered as a real topic answers it. */
function sendNotFound(req: IncomingMessage, res: ServerResponse): void {
  sendError(res, 404, 'NotFound', `No HTTP resource was found that matches the request URI '${req.url ?? '/'}'. The topic endpoint is ${TOPIC_PATH}.`, {}, 'ResourceNotFound');
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' });
  res.end();
}

/** Reads the body, keeping at most `limit + 1` bytes so an oversized one is known without holding it all. */
function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit + 1) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge: size > limit }));
    req.on('error', reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function startEventGridEmulator(options: EventGridEmulatorOptions = {}): Promise<EventGridEmulator> {
  const topicName = options.topicName ?? DEFAULT_TOPIC_NAME;
  if (!/^[A-Za-z0-9-]{3,50}$/.test(topicName)) throw new Error(`The topic name '${topicName}' must be 3 to 50 letters, digits or hyphens`);
  const retryDelaysMs = checkRetryDelays(options.retryDelaysMs);
  const log = options.log ?? (() => undefined);
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const accessKey = resolveAccessKey(options.accessKey, options.dataDir);
  const eventsFile = options.dataDir ? join(options.dataDir, EVENTS_FILE) : undefined;
  // Tests start many topics without a dataDir: one certificate set per process spares a key generation each.
  const { material: tls, temporaryDir } = await emulatorTlsMaterial(options.dataDir, 'Event Grid', 'eventgrid-emulator-', { reuseWithinProcess: true });
  const topic = options.systemTopicSource ?? topicResourceId(topicName);
  const inputSchema = options.systemTopicSource ? 'EventGridSchema' : options.inputSchema ?? 'CloudEventSchemaV1_0';
  if (inputSchema !== 'CloudEventSchemaV1_0' && inputSchema !== 'EventGridSchema') throw new Error(`inputSchema must be CloudEventSchemaV1_0 or EventGridSchema, not '${String(inputSchema)}'`);
  const localAuth = options.localAuth ?? true;
  const entra: EntraPublishing | undefined = options.entra
    ? { verify: emulatorTokenVerifier(options.entra, EVENTGRID_AUDIENCES), ...(options.entra.dataSenders ? { dataSenders: options.entra.dataSenders } : {}) }
    : undefined;

  const received: ReceivedEvent[] = loadReceived(eventsFile);
  const subscriptions = new Map<string, ActiveSubscription>();
  const dispatcher = new Dispatcher(topic, retryDelaysMs, log);
  let closed = false;

  function store(schema: EventSchema, events: JsonObject[]): void {
    const receivedAt = new Date().toISOString();
    const entries = events.map((event): ReceivedEvent => ({ receivedAt, schema, event: schema === 'EventGridSchema' ? stampEventGridEvent(event, topic) : event }));
    if (eventsFile) appendFileSync(eventsFile, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    received.push(...entries);
    for (const entry of entries) {
      const eventType = eventTypeOf(schema, entry.event);
      const subject = subjectOf(entry.event);
      for (const subscription of subscriptions.values()) {
        if (matches(subscription, eventType, subject)) dispatcher.enqueue({ subscription, event: entry.event, schema, subject, receivedAt });
      }
    }
  }

  async function publish(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      return sendError(res, 405, 'MethodNotAllowed', `${req.method} is not supported on ${TOPIC_PATH}; publish with POST`, { allow: 'POST' });
    }
    const auth = await authorize(req, url);
    if (!auth.ok) {
      req.resume();
      return sendError(res, 401, 'Unauthorized', `The request is not authorized for topic '${topicName}': ${auth.message}`);
    }
    if (!url.searchParams.get('api-version')) {
      req.resume();
      return sendError(res, 400, 'BadRequest', 'The api-version query parameter is required (for example ?api-version=2018-01-01)');
    }
    const declaredLength = Number(header(req, 'content-length') ?? '0');
    if (declaredLength > MAX_DRAINED_BYTES) {
      // Too big to be worth reading to the end: answer and drop the connection.
      return sendError(res, 413, 'RequestEntityTooLarge', `The batch is ${declaredLength} bytes; a publish request may carry at most ${MAX_PUBLISH_BYTES} bytes (1 MB)`, { connection: 'close' });
    }
    const { body, tooLarge } = await readBody(req, MAX_PUBLISH_BYTES);
    if (tooLarge) return sendError(res, 413, 'RequestEntityTooLarge', `The batch exceeds ${MAX_PUBLISH_BYTES} bytes (1 MB), the most a publish request may carry`);
    try {
      const { schema, events } = parsePublishBody(header(req, 'content-type'), body, inputSchema);
      store(schema, events);
      sendEmpty(res, 200);
    } catch (error) {
      if (error instanceof PublishError) return sendError(res, error.status, error.code, error.message);
      throw error;
    }
  }

  /** A bearer token where the topic takes Entra tokens; the key or a SAS only where it allows local auth. */
  async function authorize(req: IncomingMessage, url: URL): Promise<AuthOutcome> {
    const token = bearerToken(header(req, 'authorization'));
    if (token) return authenticateBearer(token, entra);
    if (!localAuth) return { ok: false, message: 'Local authentication (access key or SAS) is disabled for this topic; publish with a Microsoft Entra token' };
    return authenticatePublisher(req.headers, url.searchParams, accessKey, TOPIC_PATH);
  }

  async function addSubscriptionFromAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const contentType = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    const { body, tooLarge } = await readBody(req, MAX_ADMIN_BODY_BYTES);
    // A JSON content type keeps plain HTML forms on other sites from adding subscriptions.
    if (contentType !== 'application/json') return sendError(res, 415, 'UnsupportedMediaType', 'Send the subscription as application/json');
    if (tooLarge) return sendError(res, 413, 'RequestEntityTooLarge', `A subscription definition may be at most ${MAX_ADMIN_BODY_BYTES} bytes`);
    let definition: unknown;
    try {
      definition = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return sendError(res, 400, 'BadRequest', `The body is not valid JSON: ${(error as Error).message}`);
    }
    const replacing = typeof definition === 'object' && definition !== null && subscriptions.has(String((definition as JsonObject).name).toLowerCase());
    try {
      await emulator.addSubscription(definition as EventGridSubscription);
    } catch (error) {
      if (error instanceof SubscriptionError) return sendError(res, 400, 'BadRequest', error.message);
      throw error;
    }
    const added = subscriptions.get(String((definition as JsonObject).name).toLowerCase());
    sendJson(res, replacing ? 200 : 201, added ? redactedDefinition(added) : undefined);
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /_emulator/events': return sendJson(res, 200, emulator.received());
      case 'DELETE /_emulator/events':
        emulator.clearEvents();
        return sendEmpty(res, 204);
      case 'GET /_emulator/deliveries': return sendJson(res, 200, emulator.deliveries());
      case 'GET /_emulator/subscriptions': return sendJson(res, 200, emulator.subscriptions());
      case 'POST /_emulator/subscriptions': return addSubscriptionFromAdmin(req, res);
      default:
        req.resume();
        if (['/_emulator/events', '/_emulator/deliveries', '/_emulator/subscriptions'].includes(path)) {
          const allow = path === '/_emulator/events' ? 'GET, DELETE' : path === '/_emulator/subscriptions' ? 'GET, POST' : 'GET';
          return sendError(res, 405, 'MethodNotAllowed', `${method} is not supported on ${path}`, { allow });
        }
        return sendNotFound(req, res);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const path = url.pathname.replace(/\/+$/, '').toLowerCase() || '/';
    setServiceHeaders(res, path === TOPIC_PATH);
    try {
      if (path === TOPIC_PATH && !options.systemTopicSource) return await publish(req, res, url);
      if (path.startsWith('/_emulator/')) return await admin(req, res, path);
      req.resume();
      sendNotFound(req, res);
    } catch (error) {
      log(`Request ${req.method} ${url.pathname} failed: ${(error as Error).message}`);
      if (!res.headersSent) sendError(res, 500, 'InternalServerError', 'The emulator failed to handle the request');
      else res.destroy();
    }
  }

  const server: Server = createServer({ cert: tls.serverCertPem, key: tls.serverKeyPem }, (req, res) => void handle(req, res));
  let port: number;
  try {
    port = await listenOnLoopback(server, options.port);
  } catch (error) {
    if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    throw new Error(`The Event Grid emulator could not listen on 127.0.0.1:${options.port ?? 0}: ${(error as Error).message}`);
  }

  const emulator: EventGridEmulator = {
    endpoint: `https://127.0.0.1:${port}${TOPIC_PATH}`,
    accessKey,
    topicName,
    inputSchema,
    topicResourceId: topic,
    caPem: tls.caPem,
    caFile: tls.caFile,
    received: () => received.map((entry) => structuredClone(entry)),
    deliveries: () => dispatcher.deliveries(),
    subscriptions: () => [...subscriptions.values()].map(redactedDefinition),
    async addSubscription(subscription) {
      if (closed) throw new Error('The Event Grid emulator is closed');
      const active = readSubscription(subscription);
      await validateEndpoint(active, topic, dispatcher.signal);
      subscriptions.set(active.definition.name.toLowerCase(), active);
      log(`Subscription '${active.definition.name}' validated (${active.deliverySchema}) -> ${redactedUrl(active.endpoint)}`);
    },
    waitForDeliveries(predicate = (deliveries) => deliveries.every((d) => d.status !== 'pending'), timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise<void>((resolve, reject) => {
        let stopListening = (): void => undefined;
        const finish = (error?: unknown): void => {
          clearTimeout(timer);
          stopListening();
          if (error === undefined) resolve();
          else reject(error);
        };
        const timer = setTimeout(() => {
          finish(new Error(`Deliveries did not reach the expected state within ${timeoutMs} ms: ${JSON.stringify(dispatcher.deliveries())}`));
        }, timeoutMs);
        const check = (): void => {
          try {
            if (predicate(dispatcher.deliveries())) finish();
          } catch (error) {
            finish(error ?? new Error('The waitForDeliveries predicate threw'));
          }
        };
        stopListening = dispatcher.onChange(check);
        check();
      });
    },
    raise(events) {
      if (!options.systemTopicSource) throw new Error('Only a system topic raises events; publish to a custom topic');
      store('EventGridSchema', events.map((event) => ({ ...event })));
    },
    clearEvents() {
      received.length = 0;
      if (eventsFile) writeFileSync(eventsFile, '');
      dispatcher.forgetSettled();
    },
    async close() {
      if (closed) return;
      closed = true;
      dispatcher.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };

  try {
    for (const subscription of options.subscriptions ?? []) await emulator.addSubscription(subscription);
  } catch (error) {
    await emulator.close();
    throw error;
  }
  return emulator;
}
