import { randomUUID } from 'node:crypto';
import type { EventSchema, JsonObject } from './events';
import { VALIDATION_EVENT_TYPE } from './events';
import { describeFailure, sendWebhook, type WebhookResponse } from './webhook';

/**
 * Event subscriptions: their definition, the filter, and the handshake that proves the endpoint
 * wants the events before any is sent (Event Grid's validation event for the Event Grid schema, the
 * CloudEvents webhook abuse-protection OPTIONS request for CloudEvents).
 */

export interface EventGridSubscription {
  name: string;
  endpoint: string;
  eventTypes?: string[];
  subjectBeginsWith?: string;
  deliverySchema?: EventSchema;
  maxDeliveryAttempts?: number;
}

export interface ActiveSubscription {
  readonly definition: EventGridSubscription;
  readonly endpoint: URL;
  readonly deliverySchema: EventSchema;
  readonly maxDeliveryAttempts: number | undefined;
}

/** The origin Event Grid names in the CloudEvents handshake. */
export const WEBHOOK_ORIGIN = 'eventgrid.azure.net';
/** Event Grid waits 30 seconds for a webhook to answer. */
export const WEBHOOK_TIMEOUT_MS = 30_000;
export const MAX_DELIVERY_ATTEMPTS_LIMIT = 30;

const SUBSCRIPTION_NAME = /^[A-Za-z0-9-]{3,64}$/;
const KNOWN_PROPERTIES = new Set(['name', 'endpoint', 'eventTypes', 'subjectBeginsWith', 'deliverySchema', 'maxDeliveryAttempts']);
const SCHEMAS: readonly EventSchema[] = ['CloudEventSchemaV1_0', 'EventGridSchema'];

export class SubscriptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubscriptionError';
  }
}

function checkEndpoint(endpoint: unknown): URL {
  if (typeof endpoint !== 'string' || !endpoint) throw new SubscriptionError("A subscription needs an 'endpoint' URL");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new SubscriptionError(`The endpoint '${endpoint}' is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SubscriptionError(`The endpoint '${endpoint}' must be an http or https URL`);
  return url;
}

function checkEventTypes(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new SubscriptionError("'eventTypes' must be a non-empty array of event type names");
  }
  return value as string[];
}

/** Checks a subscription definition (from code, the admin API or a JSON file) and fills in defaults. */
export function readSubscription(input: unknown): ActiveSubscription {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new SubscriptionError('A subscription must be a JSON object');
  const candidate = input as JsonObject;
  const unknown = Object.keys(candidate).filter((key) => !KNOWN_PROPERTIES.has(key));
  if (unknown.length > 0) throw new SubscriptionError(`Unknown subscription properties: ${unknown.join(', ')} (allowed: ${[...KNOWN_PROPERTIES].join(', ')})`);
  const { name, subjectBeginsWith, deliverySchema, maxDeliveryAttempts } = candidate;
  if (typeof name !== 'string' || !SUBSCRIPTION_NAME.test(name)) {
    throw new SubscriptionError(`The subscription name ${JSON.stringify(name)} must be 3 to 64 letters, digits or hyphens`);
  }
  const endpoint = checkEndpoint(candidate.endpoint);
  const eventTypes = checkEventTypes(candidate.eventTypes);
  if (subjectBeginsWith !== undefined && typeof subjectBeginsWith !== 'string') throw new SubscriptionError("'subjectBeginsWith' must be a string");
  if (deliverySchema !== undefined && !SCHEMAS.includes(deliverySchema as EventSchema)) {
    throw new SubscriptionError(`'deliverySchema' must be one of ${SCHEMAS.join(', ')}`);
  }
  if (maxDeliveryAttempts !== undefined && (!Number.isInteger(maxDeliveryAttempts) || (maxDeliveryAttempts as number) < 1 || (maxDeliveryAttempts as number) > MAX_DELIVERY_ATTEMPTS_LIMIT)) {
    throw new SubscriptionError(`'maxDeliveryAttempts' must be a whole number from 1 to ${MAX_DELIVERY_ATTEMPTS_LIMIT}`);
  }
  const definition: EventGridSubscription = { name, endpoint: endpoint.toString() };
  if (eventTypes) definition.eventTypes = [...eventTypes];
  if (subjectBeginsWith !== undefined) definition.subjectBeginsWith = subjectBeginsWith as string;
  if (deliverySchema !== undefined) definition.deliverySchema = deliverySchema as EventSchema;
  if (maxDeliveryAttempts !== undefined) definition.maxDeliveryAttempts = maxDeliveryAttempts as number;
  return {
    definition,
    endpoint,
    deliverySchema: (deliverySchema as EventSchema | undefined) ?? 'CloudEventSchemaV1_0',
    maxDeliveryAttempts: maxDeliveryAttempts as number | undefined,
  };
}

/** Event Grid's filters: event types and subject prefix, both case-insensitive by default. */
export function matches(subscription: ActiveSubscription, eventType: string, subject: string): boolean {
  const { eventTypes, subjectBeginsWith } = subscription.definition;
  if (eventTypes && !eventTypes.some((t) => t.toLowerCase() === eventType.toLowerCase())) return false;
  if (subjectBeginsWith && !subject.toLowerCase().startsWith(subjectBeginsWith.toLowerCase())) return false;
  return true;
}

/** Event Grid writes the subscription name in upper case into `aeg-subscription-name`. */
export function subscriptionHeaderName(subscription: ActiveSubscription): string {
  return subscription.definition.name.toUpperCase();
}

function validationResponseOf(body: string): unknown {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const entry = Object.entries(parsed).find(([key]) => key.toLowerCase() === 'validationresponse');
    return entry?.[1];
  } catch {
    return undefined;
  }
}

function refuse(subscription: ActiveSubscription, reason: string): never {
  throw new SubscriptionError(`Subscription '${subscription.definition.name}': the endpoint ${subscription.endpoint.toString()} failed the validation handshake: ${reason}`);
}

async function call(subscription: ActiveSubscription, send: () => Promise<WebhookResponse>): Promise<WebhookResponse> {
  try {
    return await send();
  } catch (error) {
    return refuse(subscription, `the request failed (${describeFailure(error)})`);
  }
}

async function validateEventGridEndpoint(subscription: ActiveSubscription, topic: string, signal: AbortSignal): Promise<void> {
  const validationCode = randomUUID();
  const validationEvent = {
    id: randomUUID(),
    topic,
    subject: '',
    data: { validationCode },
    eventType: VALIDATION_EVENT_TYPE,
    eventTime: new Date().toISOString(),
    metadataVersion: '1',
    dataVersion: '1',
  };
  const response = await call(subscription, () => sendWebhook({
    method: 'POST',
    url: subscription.endpoint,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'aeg-event-type': 'SubscriptionValidation',
      'aeg-subscription-name': subscriptionHeaderName(subscription),
      'aeg-delivery-count': '0',
      'aeg-data-version': '1',
      'aeg-metadata-version': '1',
    },
    body: JSON.stringify([validationEvent]),
    timeoutMs: WEBHOOK_TIMEOUT_MS,
    signal,
  }));
  if (response.status !== 200) refuse(subscription, `it answered ${response.status} to the ${VALIDATION_EVENT_TYPE}; it must answer 200 with {"validationResponse": "<data.validationCode>"}`);
  const echoed = validationResponseOf(response.body);
  if (echoed !== validationCode) {
    refuse(subscription, echoed === undefined
      ? 'its answer has no validationResponse; it must answer 200 with {"validationResponse": "<data.validationCode>"}'
      : `its validationResponse ${JSON.stringify(echoed)} is not the validation code that was sent`);
  }
}

async function validateCloudEventsEndpoint(subscription: ActiveSubscription, signal: AbortSignal): Promise<void> {
  const response = await call(subscription, () => sendWebhook({
    method: 'OPTIONS',
    url: subscription.endpoint,
    headers: { 'webhook-request-origin': WEBHOOK_ORIGIN },
    timeoutMs: WEBHOOK_TIMEOUT_MS,
    signal,
  }));
  const allowed = response.headers['webhook-allowed-origin'];
  const allowedOrigin = (Array.isArray(allowed) ? allowed[0] : allowed)?.trim();
  if (response.status < 200 || response.status > 204) {
    refuse(subscription, `it answered ${response.status} to the OPTIONS request; it must answer 200 with WebHook-Allowed-Origin: ${WEBHOOK_ORIGIN} (or *)`);
  }
  if (allowedOrigin !== '*' && allowedOrigin?.toLowerCase() !== WEBHOOK_ORIGIN) {
    refuse(subscription, allowedOrigin
      ? `its WebHook-Allowed-Origin '${allowedOrigin}' allows neither ${WEBHOOK_ORIGIN} nor *`
      : `its answer to the OPTIONS request has no WebHook-Allowed-Origin header (expected ${WEBHOOK_ORIGIN} or *)`);
  }
}

/** Runs the handshake the subscription's delivery schema calls for; throws SubscriptionError if it fails. */
export async function validateEndpoint(subscription: ActiveSubscription, topic: string, signal: AbortSignal): Promise<void> {
  if (subscription.deliverySchema === 'EventGridSchema') await validateEventGridEndpoint(subscription, topic, signal);
  else await validateCloudEventsEndpoint(subscription, signal);
}

/** Query parameters that only say where a webhook delivers; every other value may be a secret (`code`, `sig`, ...). */
const PLAIN_QUERY_PARAMETERS = new Set(['functionname', 'api-version']);

/** The endpoint with every query value but the plain ones replaced by `***`, for listings and logs. */
export function redactedUrl(endpoint: URL): string {
  if (!endpoint.search && !endpoint.password) return endpoint.toString();
  const query = [...endpoint.searchParams].map(([name, value]) => `${encodeURIComponent(name)}=${PLAIN_QUERY_PARAMETERS.has(name.toLowerCase()) ? encodeURIComponent(value) : '***'}`);
  const withoutQuery = new URL(endpoint.toString());
  withoutQuery.search = '';
  withoutQuery.hash = '';
  if (withoutQuery.password) withoutQuery.password = '***';
  return query.length > 0 ? `${withoutQuery.toString()}?${query.join('&')}` : withoutQuery.toString();
}
