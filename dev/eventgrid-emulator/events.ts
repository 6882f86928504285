/**
 * What an Event Grid custom topic accepts on `POST /api/events` and how it hands events on: in the
 * topic's one input schema, either the Event Grid schema (always an array) or CloudEvents 1.0 in
 * structured JSON mode (one event as `application/cloudevents+json`, or a batch as
 * `application/cloudevents-batch+json`).
 */

export type EventSchema = 'CloudEventSchemaV1_0' | 'EventGridSchema';
export type JsonObject = Record<string, unknown>;

/**
 * The most a publish request may carry: "When posting events to an Event Grid topic, the array can
 * have a total size of up to 1 MB ... If an event or the array is greater than the size limits, you
 * receive the response 413 Payload Too Large" (https://learn.microsoft.com/azure/event-grid/event-schema;
 * "Event size 1 MB" in https://learn.microsoft.com/azure/event-grid/quotas-limits). 1 MB is 1,048,576 bytes.
 */
export const MAX_PUBLISH_BYTES = 1024 * 1024;
export const VALIDATION_EVENT_TYPE = 'Microsoft.EventGrid.SubscriptionValidationEvent';

const CLOUD_EVENT_REQUIRED = ['id', 'source', 'type'] as const;
const CLOUD_EVENT_OPTIONAL_STRINGS = ['subject', 'datacontenttype', 'dataschema', 'time'] as const;
const EVENT_GRID_REQUIRED_STRINGS = ['id', 'subject', 'eventType'] as const;
/** The CloudEvents spec limits attribute names to lower-case ASCII letters and digits. */
const CLOUD_EVENT_ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** A publish request Event Grid would refuse; `status` and `code` are what it answers with. */
export class PublishError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'PublishError';
  }
}

function badRequest(message: string): PublishError {
  return new PublishError(400, 'BadRequest', message);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** RFC 3339 as CloudEvents and Event Grid use it: a date, a time and an offset or Z. */
function isTimestamp(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value));
}

function describe(index: number, event: JsonObject): string {
  return typeof event.id === 'string' && event.id ? `Event at index ${index} (id '${event.id}')` : `Event at index ${index}`;
}

function cloudEventProblem(event: JsonObject): string | undefined {
  if (event.specversion === undefined) return "'specversion' is required and must be \"1.0\"";
  if (event.specversion !== '1.0') return `'specversion' must be "1.0", not ${JSON.stringify(event.specversion)}`;
  for (const name of CLOUD_EVENT_REQUIRED) {
    if (!isNonEmptyString(event[name])) return `'${name}' is required and must be a non-empty string`;
  }
  for (const name of CLOUD_EVENT_OPTIONAL_STRINGS) {
    if (event[name] !== undefined && typeof event[name] !== 'string') return `'${name}' must be a string`;
  }
  if (typeof event.time === 'string' && !isTimestamp(event.time)) return `'time' must be an RFC 3339 timestamp, not '${event.time}'`;
  if (event.data !== undefined && event.data_base64 !== undefined) return "'data' and 'data_base64' cannot both be present";
  if (event.data_base64 !== undefined && typeof event.data_base64 !== 'string') return "'data_base64' must be a base64 string";
  const badName = Object.keys(event).find((name) => name !== 'data_base64' && !CLOUD_EVENT_ATTRIBUTE_NAME.test(name));
  if (badName !== undefined) return `attribute name '${badName}' is not allowed (CloudEvents attribute names are lower-case letters and digits)`;
  return undefined;
}

function eventGridEventProblem(event: JsonObject): string | undefined {
  for (const name of EVENT_GRID_REQUIRED_STRINGS) {
    if (!isNonEmptyString(event[name])) return `'${name}' is required and must be a non-empty string`;
  }
  if (typeof event.eventTime !== 'string' || !isTimestamp(event.eventTime)) return "'eventTime' is required and must be an ISO 8601 date-time with an offset or Z";
  if (!('data' in event) || event.data === undefined) return "'data' is required";
  if (typeof event.dataVersion !== 'string') return "'dataVersion' is required and must be a string";
  if (event.metadataVersion !== undefined && event.metadataVersion !== '1') return `'metadataVersion' must be "1" when present, not ${JSON.stringify(event.metadataVersion)}`;
  if (event.topic !== undefined && typeof event.topic !== 'string') return "'topic' must be a string";
  return undefined;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8').trim();
  if (!text) throw badRequest('The request body is empty; send a JSON array of events');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`The request body is not valid JSON: ${(error as Error).message}`);
  }
}

const CLOUD_EVENT_MEDIA_TYPES = ['application/cloudevents+json', 'application/cloudevents-batch+json'];

/** Azure's names for the two input schemas in its refusals. */
const SCHEMA_WIRE_NAMES: Record<EventSchema, string> = { CloudEventSchemaV1_0: 'CloudEventV10', EventGridSchema: 'EventGridEvent' };

/**
 * A topic reads every post in its one input schema: a CloudEvents topic takes the CloudEvents media
 * types only, an Event Grid schema topic a JSON array of Event Grid events (and no CloudEvents).
 */
function checkInputSchema(contentType: string, body: unknown, inputSchema: EventSchema): void {
  const isCloudEventType = CLOUD_EVENT_MEDIA_TYPES.includes(contentType);
  const first = Array.isArray(body) ? body[0] : body;
  const looksLikeCloudEvent = isObject(first) && 'specversion' in first;
  const fits = inputSchema === 'CloudEventSchemaV1_0' ? isCloudEventType : !isCloudEventType && !looksLikeCloudEvent;
  if (fits) return;
  const expected = inputSchema === 'CloudEventSchemaV1_0'
    ? 'post CloudEvents as application/cloudevents-batch+json (or one as application/cloudevents+json)'
    : 'post a JSON array of Event Grid schema events as application/json';
  throw badRequest(`This resource is configured to receive event in '${SCHEMA_WIRE_NAMES[inputSchema]}' schema. The JSON received does not conform to the expected schema: ${expected}.`);
}

function asEventList(contentType: string, schema: EventSchema, body: unknown): unknown[] {
  if (contentType === 'application/cloudevents+json') {
    if (!isObject(body)) throw badRequest('An application/cloudevents+json body holds one CloudEvent as a JSON object; send a batch as application/cloudevents-batch+json');
    return [body];
  }
  if (Array.isArray(body)) return body;
  throw badRequest(schema === 'EventGridSchema'
    ? 'Event Grid schema events are published as a JSON array, even for one event'
    : 'An application/cloudevents-batch+json body must be a JSON array of CloudEvents');
}

/**
 * Reads and validates a publish body. The whole batch is refused if any event is invalid, as Event
 * Grid accepts a batch entirely or not at all.
 */
export function parsePublishBody(contentTypeHeader: string | undefined, raw: Buffer, inputSchema: EventSchema): { schema: EventSchema; events: JsonObject[] } {
  if (raw.length > MAX_PUBLISH_BYTES) {
    throw new PublishError(413, 'RequestEntityTooLarge', `The batch is ${raw.length} bytes; a publish request may carry at most ${MAX_PUBLISH_BYTES} bytes (1 MB)`);
  }
  const contentType = mediaType(contentTypeHeader);
  const body = parseJson(raw);
  checkInputSchema(contentType, body, inputSchema);
  const schema = inputSchema;
  const list = asEventList(contentType, schema, body);
  if (list.length === 0) throw badRequest('The batch holds no events');
  const events: JsonObject[] = [];
  list.forEach((candidate, index) => {
    if (!isObject(candidate)) throw badRequest(`Event at index ${index} is not a JSON object`);
    const problem = schema === 'CloudEventSchemaV1_0' ? cloudEventProblem(candidate) : eventGridEventProblem(candidate);
    if (problem) {
      const kind = schema === 'CloudEventSchemaV1_0' ? 'CloudEvents 1.0' : 'Event Grid schema';
      throw badRequest(`${describe(index, candidate)} is not a valid ${kind} event: ${problem}. Nothing from this batch was accepted.`);
    }
    events.push(candidate);
  });
  return { schema, events };
}

/** The ARM id Event Grid stamps into `topic`; the subscription id is a fixed local placeholder. */
export function topicResourceId(topicName: string): string {
  return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.EventGrid/topics/${topicName}`;
}

/** Event Grid owns `topic` and `metadataVersion` of Event Grid schema events. */
export function stampEventGridEvent(event: JsonObject, topic: string): JsonObject {
  return { ...event, topic, metadataVersion: '1' };
}

export function eventTypeOf(schema: EventSchema, event: JsonObject): string {
  return String(schema === 'CloudEventSchemaV1_0' ? event.type : event.eventType);
}

export function subjectOf(event: JsonObject): string {
  return typeof event.subject === 'string' ? event.subject : '';
}

/**
 * Converts between the schemas when a subscription delivers in another one than the event was
 * published in: `topic` and `source` correspond, as do `eventType`/`type` and `eventTime`/`time`.
 */
export function convertEvent(event: JsonObject, from: EventSchema, to: EventSchema, context: { topic: string; receivedAt: string }): JsonObject {
  if (from === to) return event;
  if (to === 'CloudEventSchemaV1_0') {
    const converted: JsonObject = { specversion: '1.0', id: event.id, source: event.topic ?? context.topic, type: event.eventType, time: event.eventTime };
    if (subjectOf(event)) converted.subject = event.subject;
    converted.data = event.data;
    return converted;
  }
  return {
    id: event.id,
    topic: context.topic,
    subject: subjectOf(event),
    data: event.data !== undefined ? event.data : event.data_base64 ?? null,
    eventType: event.type,
    eventTime: typeof event.time === 'string' ? event.time : context.receivedAt,
    metadataVersion: '1',
    dataVersion: '',
  };
}
