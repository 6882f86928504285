import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpRequest } from '@azure/functions';
import type { TokenVerifier } from '../idp/verify';
import { handleAuthEndpoint } from './authEndpoints';
import { authenticate, isPlatformHeader, principalHeaders } from './easyAuth';
import { BLOB_CREATED_EVENT_TYPE, blobOfEvent, FUNCTION_NAME_PREFIX, runBlobFunction } from './blobs';
import { readDelivery } from './eventGrid';
import {
  escapeHtml, flattenHeaders, PayloadTooLargeError, readBody, sendHtml, sendJson, sendText, writeFunctionResult,
} from './httpIo';
import { invokeFunction, type InvocationEnvironment } from './invoke';
import { keyMatches } from './keys';
import { errorText, type HostLogger } from './log';
import type { FunctionRegistration } from './registrations';
import { compareRoutes, compileRoute, matchRoute, type CompiledRoute } from './routes';

export interface HttpRoute {
  readonly registration: FunctionRegistration;
  readonly route: CompiledRoute;
  readonly methods: ReadonlySet<string>;
  readonly authLevel: 'anonymous' | 'function' | 'admin';
}

export interface HostRuntime {
  readonly registrations: readonly FunctionRegistration[];
  readonly routes: readonly HttpRoute[];
  readonly routePrefix: string;
  readonly hostKey: string;
  /** The `blobs_extension` system key of the blob trigger's webhook. */
  readonly blobsExtensionKey: string;
  readonly sessionSecret: string;
  readonly verifier?: TokenVerifier;
  readonly maxRequestBodyBytes: number;
  readonly logger: HostLogger;
  readonly invocation: InvocationEnvironment;
  origin(): string;
  /** Runs a non-HTTP function now, as the admin API does. */
  runNow(registration: FunctionRegistration, input: unknown): Promise<void>;
}

export function buildRoutes(registrations: readonly FunctionRegistration[]): HttpRoute[] {
  const routes = registrations
    .filter((r) => r.kind === 'http')
    .map((registration): HttpRoute => {
      const template = typeof registration.trigger.route === 'string' && registration.trigger.route ? registration.trigger.route : registration.name;
      let route: CompiledRoute;
      try {
        route = compileRoute(template);
      } catch (error) {
        throw new Error(`Function '${registration.name}': ${(error as Error).message}`);
      }
      const methods = Array.isArray(registration.trigger.methods) ? registration.trigger.methods.map((m) => String(m).toUpperCase()) : ['GET', 'POST'];
      const authLevel = String(registration.trigger.authLevel ?? 'anonymous').toLowerCase();
      if (authLevel !== 'anonymous' && authLevel !== 'function' && authLevel !== 'admin') throw new Error(`Function '${registration.name}': unknown authLevel '${authLevel}'`);
      return { registration, route, methods: new Set(methods), authLevel };
    });
  return routes.sort((a, b) => compareRoutes(a.route, b.route));
}

function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-functions-key'];
  return (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? undefined;
}

function requireKey(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  if (keyMatches(presentedKey(req, url), runtime.hostKey)) return true;
  sendText(res, 401, 'A host key is required (x-functions-key header or code query parameter)');
  return false;
}

async function handleFunctionRequest(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, url: URL, routePath: string): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const matches = runtime.routes
    .map((route) => ({ route, params: matchRoute(route.route, routePath) }))
    .filter((m): m is { route: HttpRoute; params: Record<string, string> } => m.params !== undefined);
  const match = matches.find((m) => m.route.methods.has(method));
  // As in Azure: a route that does not take the method is not found (no 405), and HEAD is not GET.
  if (!match) return sendText(res, 404, 'Not found');
  const { route, params } = match;
  if (route.authLevel !== 'anonymous' && !requireKey(runtime, req, res, url)) return;

  const body = await readBody(req, runtime.maxRequestBodyBytes);
  const headers = flattenHeaders(req.headers);
  for (const name of Object.keys(headers)) if (isPlatformHeader(name)) delete headers[name];
  const caller = await authenticate(req.headers, { verifier: runtime.verifier, sessionSecret: runtime.sessionSecret });
  if (caller) Object.assign(headers, principalHeaders(caller));

  const request = new HttpRequest({
    method,
    url: url.toString(),
    headers,
    params,
    ...(body.length > 0 ? { body: { bytes: new Uint8Array(body) } } : {}),
  });
  let result: unknown;
  try {
    ({ result } = await invokeFunction(route.registration, [request], runtime.invocation));
  } catch (error) {
    runtime.logger({ level: 'error', functionName: route.registration.name, message: `Executed '${route.registration.name}' (Failed): ${errorText(error)}` });
    return sendText(res, 500, 'Internal Server Error');
  }
  await writeFunctionResult(res, result, method);
}

async function handleEventGrid(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'OPTIONS') {
    // CloudEvents webhook validation (abuse protection handshake).
    const origin = req.headers['webhook-request-origin'];
    if (typeof origin !== 'string' || !origin) return sendText(res, 400, 'WebHook-Request-Origin header required');
    res.writeHead(200, { 'webhook-allowed-origin': origin, 'webhook-allowed-rate': '*', 'content-length': '0' });
    res.end();
    return;
  }
  if (method !== 'POST') return sendText(res, 405, 'Method not allowed', { allow: 'OPTIONS, POST' });
  const name = url.searchParams.get('functionName') ?? '';
  const registration = runtime.registrations.find((r) => r.kind === 'eventGrid' && r.name.toLowerCase() === name.toLowerCase());
  if (!registration) return sendText(res, 404, `No Event Grid function named '${name}'`);
  if (!requireKey(runtime, req, res, url)) return;
  await serveDelivery(runtime, req, res, registration, 'Event Grid subscription validated', async (event) => {
    await invokeFunction(registration, [event], runtime.invocation);
    return true;
  }, (event) => `event ${String(event.id)}`);
}

/**
 * One Event Grid delivery to a webhook: the handshake, or each event through `run` (false: an event
 * the function does not take). Any failure answers 500, so that Event Grid delivers again.
 */
async function serveDelivery(
  runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, registration: FunctionRegistration, validated: string,
  run: (event: Record<string, unknown>) => Promise<boolean>, describeEvent: (event: Record<string, unknown>) => string,
): Promise<void> {
  const body = (await readBody(req, runtime.maxRequestBodyBytes)).toString('utf8');
  const eventTypeHeader = req.headers['aeg-event-type'];
  const delivery = readDelivery(Array.isArray(eventTypeHeader) ? eventTypeHeader[0] : eventTypeHeader, body);
  switch (delivery.kind) {
    case 'invalid':
      return sendJson(res, 400, { error: delivery.message });
    case 'validation':
      runtime.logger({ level: 'information', functionName: registration.name, message: validated });
      return sendJson(res, 200, { validationResponse: delivery.validationCode });
    case 'unsubscribe':
      return sendText(res, 202, '');
    case 'events': {
      let failures = 0;
      for (const event of delivery.events) {
        const started = Date.now();
        try {
          if (await run(event)) runtime.logger({ level: 'debug', functionName: registration.name, message: `Executed '${registration.name}' (Succeeded, ${Date.now() - started}ms) for ${describeEvent(event)}` });
        } catch (error) {
          failures += 1;
          runtime.logger({ level: 'error', functionName: registration.name, message: `Executed '${registration.name}' (Failed) for ${describeEvent(event)}: ${errorText(error)}` });
        }
      }
      if (failures > 0) return sendJson(res, 500, { error: `${failures} of ${delivery.events.length} events failed` });
      return sendText(res, 202, '');
    }
  }
}

/**
 * The Storage extension's webhook for blob triggers with the Event Grid source:
 * `POST /runtime/webhooks/blobs?functionName=Host.Functions.{name}&code={blobs_extension key}`.
 * Event Grid schema only (the extension's handshake is the SubscriptionValidation event). Each
 * `Microsoft.Storage.BlobCreated` event whose blob matches the trigger's path runs the function;
 * other events and other blobs are taken (202) and left alone. A failed run answers 500, so that
 * Event Grid delivers the event again.
 */
async function handleBlobWebhook(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if ((req.method ?? 'GET').toUpperCase() !== 'POST') return sendText(res, 405, 'Method not allowed', { allow: 'POST' });
  const given = url.searchParams.get('functionName') ?? '';
  const name = given.startsWith(FUNCTION_NAME_PREFIX) ? given.slice(FUNCTION_NAME_PREFIX.length) : '';
  const registration = runtime.registrations.find((r) => r.kind === 'blob' && r.name.toLowerCase() === name.toLowerCase());
  if (!registration) return sendText(res, 404, `No blob-triggered function named '${given}' (the webhook names it Host.Functions.{name})`);
  const key = presentedKey(req, url);
  if (!keyMatches(key, runtime.blobsExtensionKey) && !keyMatches(key, runtime.hostKey)) return sendText(res, 401, 'The blobs_extension system key is required (code query parameter)');
  await serveDelivery(runtime, req, res, registration, 'Event Grid subscription validated (blob trigger)', async (event) => {
    const target = event.eventType === BLOB_CREATED_EVENT_TYPE ? blobOfEvent(event) : undefined;
    return target ? runBlobFunction(registration, target, runtime.invocation) : false;
  }, (event) => `blob ${String(blobOfEvent(event)?.blobName ?? event.subject)}`);
}

function describeRegistration(registration: FunctionRegistration): Record<string, unknown> {
  const { type, name: _binding, direction: _direction, properties: _properties, ...options } = registration.trigger;
  return { name: registration.name, trigger: type, ...options };
}

async function handleAdmin(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (!requireKey(runtime, req, res, url)) return;
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname.replace(/\/+$/, '');
  if (path.toLowerCase() === '/admin/host/status' && method === 'GET') return sendJson(res, 200, { state: 'Running', functions: runtime.registrations.length });
  if (path.toLowerCase() === '/admin/functions' && method === 'GET') return sendJson(res, 200, runtime.registrations.map(describeRegistration));
  const match = /^\/admin\/functions\/([^/]+)$/i.exec(path);
  if (!match) return sendText(res, 404, 'Not found');
  const name = decodeURIComponent(match[1]);
  const registration = runtime.registrations.find((r) => r.name.toLowerCase() === name.toLowerCase());
  if (!registration) return sendText(res, 404, `No function named '${name}'`);
  if (method === 'GET') return sendJson(res, 200, describeRegistration(registration));
  if (method !== 'POST') return sendText(res, 405, 'Method not allowed', { allow: 'GET, POST' });
  if (registration.kind === 'http') return sendText(res, 400, `'${registration.name}' is an HTTP function: call its route instead`);
  const text = (await readBody(req, runtime.maxRequestBodyBytes)).toString('utf8');
  let input: unknown;
  try {
    input = text ? (JSON.parse(text) as { input?: unknown }).input : undefined;
  } catch {
    return sendText(res, 400, 'The body must be JSON: { "input": ... }');
  }
  try {
    await runtime.runNow(registration, input);
  } catch (error) {
    runtime.logger({ level: 'error', functionName: registration.name, message: `Executed '${registration.name}' (Failed): ${errorText(error)}` });
    return sendJson(res, 500, { error: `Function '${registration.name}' failed; see the host log` });
  }
  sendText(res, 202, '');
}

function landingPage(runtime: HostRuntime): string {
  const rows = runtime.routes
    .map((r) => `<tr><td>${escapeHtml(r.registration.name)}</td><td>${escapeHtml([...r.methods].join(', '))}</td><td><code>/${escapeHtml(runtime.routePrefix ? `${runtime.routePrefix}/` : '')}${escapeHtml(r.route.template)}</code></td><td>${escapeHtml(r.authLevel)}</td></tr>`)
    .join('\n');
  const others = runtime.registrations
    .filter((r) => r.kind !== 'http')
    .map((r) => `<tr><td>${escapeHtml(r.name)}</td><td colspan="3">${escapeHtml(r.kind)}${r.kind === 'timer' ? ` <code>${escapeHtml(String(r.trigger.schedule))}</code>` : ''}</td></tr>`)
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Local Functions host</title>
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto}td{padding:.2rem .8rem}</style></head>
<body><h1>Local Functions host is running</h1>
<p><a href="/.auth/login/dev">Sign in as a persona</a> · <a href="/.auth/me">/.auth/me</a> · <a href="/.auth/logout">Sign out</a></p>
<table><tr><th>function</th><th>methods</th><th>route</th><th>auth level</th></tr>
${rows}
${others}
</table></body></html>`;
}

/** Routes one request: platform endpoints first, then the app's HTTP functions under the route prefix. */
export async function handleRequest(runtime: HostRuntime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', runtime.origin());
  const path = url.pathname;
  const lower = path.toLowerCase();
  try {
    if (lower.startsWith('/.auth/')) {
      return await handleAuthEndpoint(req, res, url, { verifier: runtime.verifier, sessionSecret: runtime.sessionSecret, origin: runtime.origin });
    }
    if (lower === '/admin' || lower.startsWith('/admin/')) return await handleAdmin(runtime, req, res, url);
    if (lower.replace(/\/+$/, '') === '/runtime/webhooks/eventgrid') return await handleEventGrid(runtime, req, res, url);
    if (lower.replace(/\/+$/, '') === '/runtime/webhooks/blobs') return await handleBlobWebhook(runtime, req, res, url);
    const prefix = runtime.routePrefix ? `/${runtime.routePrefix.toLowerCase()}` : '';
    if (path === '/' && (prefix !== '' || !runtime.routes.some((r) => matchRoute(r.route, '') !== undefined))) {
      return sendHtml(res, 200, landingPage(runtime));
    }
    if (prefix === '' || lower === prefix || lower.startsWith(`${prefix}/`)) {
      return await handleFunctionRequest(runtime, req, res, url, path.slice(prefix.length).replace(/^\/+/, ''));
    }
    sendText(res, 404, 'Not found');
  } catch (error) {
    if (error instanceof PayloadTooLargeError) {
      if (!res.headersSent) sendText(res, 413, `Request body too large (limit ${error.limit} bytes)`, { connection: 'close' });
      req.resume();
      return;
    }
    runtime.logger({ level: 'error', message: `Request ${req.method} ${path} failed: ${errorText(error)}` });
    if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
    else res.destroy();
  }
}
