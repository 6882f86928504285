/**
 * The Event Grid extension's webhook, `/runtime/webhooks/eventgrid?functionName=NAME`: the
 * subscription validation handshake, then deliveries in the Event Grid schema (always an array) or
 * the CloudEvents schema (one event or a batch), each event handed to the function on its own.
 */

export const VALIDATION_EVENT_TYPE = 'Microsoft.EventGrid.SubscriptionValidationEvent';

export type EventGridDelivery =
  | { kind: 'validation'; validationCode: string }
  | { kind: 'events'; events: Record<string, unknown>[] }
  | { kind: 'unsubscribe' }
  | { kind: 'invalid'; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEventGridEvent(value: Record<string, unknown>): boolean {
  return typeof value.id === 'string' && typeof value.eventType === 'string' && typeof value.subject === 'string';
}

function isCloudEvent(value: Record<string, unknown>): boolean {
  return typeof value.id === 'string' && typeof value.type === 'string' && typeof value.source === 'string' && typeof value.specversion === 'string';
}

/** Reads a delivery as the extension does, keyed on the `aeg-event-type` header. */
export function readDelivery(eventTypeHeader: string | undefined, bodyText: string): EventGridDelivery {
  const header = (eventTypeHeader ?? '').trim();
  if (header.toLowerCase() === 'unsubscribe') return { kind: 'unsubscribe' };
  if (header.toLowerCase() !== 'subscriptionvalidation' && header.toLowerCase() !== 'notification') {
    return { kind: 'invalid', message: header ? `Unknown aeg-event-type '${header}'` : 'The aeg-event-type header is required (SubscriptionValidation, Notification or Unsubscribe)' };
  }
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return { kind: 'invalid', message: 'The body is not JSON' };
  }
  const events = Array.isArray(body) ? body : [body];
  if (events.length === 0) return { kind: 'invalid', message: 'The delivery holds no events' };
  if (!events.every(isObject)) return { kind: 'invalid', message: 'Every event must be a JSON object' };
  const objects = events as Record<string, unknown>[];

  if (header.toLowerCase() === 'subscriptionvalidation') {
    const validation = objects.find((e) => e.eventType === VALIDATION_EVENT_TYPE);
    const data = validation && isObject(validation.data) ? validation.data : undefined;
    if (!data || typeof data.validationCode !== 'string') return { kind: 'invalid', message: `A SubscriptionValidation delivery must hold a ${VALIDATION_EVENT_TYPE} with data.validationCode` };
    return { kind: 'validation', validationCode: data.validationCode };
  }
  if (!Array.isArray(body) && isEventGridEvent(body as Record<string, unknown>)) {
    return { kind: 'invalid', message: 'Event Grid schema deliveries are arrays of events' };
  }
  const unknownShape = objects.find((e) => !isEventGridEvent(e) && !isCloudEvent(e));
  if (unknownShape) return { kind: 'invalid', message: 'Each event needs id, eventType and subject (Event Grid schema) or id, type, source and specversion (CloudEvents)' };
  return { kind: 'events', events: objects };
}
