import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { TlsMaterial } from '../tls/certificate';
import type { AnsweredFault, FaultInjector } from './faults';
import { readJsonBody, type BodyRefusals, type ParsedRequest } from './http';
import type { EmulatorResponse } from './responses';

/** What an emulator remembers of a request, for tests: `status` -1 when the connection was dropped. */
export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  principalId?: string;
  fault?: string;
  /** For `actThenDrop`: the status of the answer that was carried out but never sent. */
  actedStatus?: number;
  /** The `x-ms-request-id` the answer carried (the HSM emulator's). */
  requestId?: string;
}

const MAX_REQUEST_RECORDS = 10_000;

/** The latest requests, oldest first; a long run keeps only the last 10,000. */
export class RequestLog<R extends RequestRecord> {
  private readonly records: R[] = [];

  /** Adds the record of a request that has just come in; its handling fills in the rest. */
  add(record: R): R {
    if (this.records.length >= MAX_REQUEST_RECORDS) this.records.shift();
    this.records.push(record);
    return record;
  }

  all(): R[] {
    return [...this.records];
  }
}

/** What sets one emulator apart from another in the handling of a request; the order is the same for all. */
export interface EmulatorRequestHandlers<C extends { objectId: string }> {
  bodyRefusals: BodyRefusals;
  /** The `/_emulator/` endpoints, served without a token. */
  admin(req: IncomingMessage, path: string, body: unknown): EmulatorResponse;
  authenticate(req: IncomingMessage): Promise<{ caller: C } | { refusal: EmulatorResponse }>;
  /** The service's own answer to a fault injected into an authenticated request. */
  faultAnswer(fault: AnsweredFault, req: IncomingMessage, path: string, caller: C): EmulatorResponse;
  route(req: IncomingMessage, caller: C, parsed: ParsedRequest, body: unknown): EmulatorResponse;
}

/**
 * One request through an emulator: body, admin endpoints, authentication, injected faults (a
 * dropped connection answers nothing; `actThenDrop` carries the request out and then answers
 * nothing, its outcome kept in `actedStatus`), then the service's route. The body is read before anything
 * is answered, so that no answer leaves an upload half-read on a kept-alive connection; a body that
 * cannot be read is refused only after authentication and faults, so an anonymous client still
 * meets the challenge first.
 */
export async function serveEmulatorRequest<C extends { objectId: string }>(
  req: IncomingMessage,
  parsed: ParsedRequest,
  record: RequestRecord,
  send: (response: EmulatorResponse) => void,
  faults: FaultInjector,
  handlers: EmulatorRequestHandlers<C>,
): Promise<void> {
  const finish = (response: EmulatorResponse): void => {
    record.status = response.status;
    send(response);
  };
  const read = await readJsonBody(req, handlers.bodyRefusals);
  if (parsed.path.startsWith('/_emulator/')) return finish(read.ok ? handlers.admin(req, parsed.path, read.body) : read.response);
  const authentication = await handlers.authenticate(req);
  if ('refusal' in authentication) return finish(authentication.refusal);
  const { caller } = authentication;
  record.principalId = caller.objectId;
  const fault = await faults.next();
  if (fault) record.fault = fault;
  if (fault === 'drop') {
    record.status = -1;
    req.socket.destroy();
    return;
  }
  if (fault && fault !== 'actThenDrop') return finish(handlers.faultAnswer(fault, req, parsed.path, caller));
  const response = read.ok ? handlers.route(req, caller, parsed, read.body) : read.response;
  if (fault === 'actThenDrop') {
    record.actedStatus = response.status;
    record.status = -1;
    req.socket.destroy();
    return;
  }
  finish(response);
}

/** GET and PUT of `/_emulator/faults`; undefined for any other admin request. */
export function faultsEndpoint(req: IncomingMessage, path: string, body: unknown, faults: FaultInjector, badRequest: (message: string) => EmulatorResponse): EmulatorResponse | undefined {
  if (path !== '/_emulator/faults') return undefined;
  if (req.method === 'GET') return { status: 200, body: faults.current };
  if (req.method !== 'PUT') return undefined;
  try {
    return { status: 200, body: faults.replace(body ?? {}) };
  } catch (error) {
    return badRequest((error as Error).message);
  }
}

/**
 * Resolves with the port once `server` listens on loopback (a free one when `port` is 0 or absent);
 * rejects when it cannot. `errors` is where the server's errors are emitted, when not on itself.
 */
export async function listenOnLoopback(server: NetServer, port: number | undefined, errors: NodeJS.EventEmitter = server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(error.code === 'EADDRINUSE' ? new Error(`Port ${port} on 127.0.0.1 is already in use (is another local stack running?)`) : error);
    };
    errors.once('error', onError);
    server.listen(port ?? 0, '127.0.0.1', () => {
      errors.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * An HTTPS server for an emulator's `handle`, listening on loopback. A handler that throws gets
 * `answerFailure` while nothing has been written yet, else its connection is cut.
 */
export async function startEmulatorServer(
  material: TlsMaterial,
  port: number | undefined,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  answerFailure: (req: IncomingMessage, res: ServerResponse, error: Error) => void,
): Promise<{ server: Server; port: number; baseUrl: string }> {
  const server: Server = createServer({ cert: material.serverCertPem, key: material.serverKeyPem }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) answerFailure(req, res, error as Error);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  const listening = await listenOnLoopback(server, port);
  return { server, port: listening, baseUrl: `https://127.0.0.1:${listening}` };
}

/** Stops the server at once, kept-alive connections included. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
