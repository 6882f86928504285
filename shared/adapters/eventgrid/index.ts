import type { TokenCredential } from '@azure/core-auth';
import type { CloudEvent, EventGridPublisherClient } from '@azure/eventgrid';
import type { OutboundEvent } from '../../domain';
import { EventsRefusedError, type EventPublisher } from '../../services/outboxPorts';

export interface EventGridTopicSettings {
  /** `https://{topic}.{region}-1.eventgrid.azure.net/api/events` */
  endpoint: string;
  /** The topic's access key; without one the service's managed identity signs in (it needs "EventGrid Data Sender" on the topic). */
  key?: string;
  /** An extra CA to trust (the local topic emulator's). */
  caPem?: string;
  /** Retries inside one publish call (the SDK's own; default 3). */
  maxRetries?: number;
}

function toCloudEvent(event: OutboundEvent): CloudEvent<unknown> {
  return { id: event.id, source: event.source, type: event.type, subject: event.subject, time: new Date(event.time), datacontenttype: event.datacontenttype, data: event.data };
}

/** Publishes the service's events to an Event Grid topic in the CloudEvents 1.0 schema. */
export class EventGridPublisher implements EventPublisher {
  private clientOnce: EventGridPublisherClient<'CloudEvent'> | undefined;

  constructor(private readonly settings: EventGridTopicSettings, private readonly credential: TokenCredential) {}

  /** The SDK is loaded with the first publish, not at cold start. */
  private get client(): EventGridPublisherClient<'CloudEvent'> {
    this.clientOnce ??= this.createClient();
    return this.clientOnce;
  }

  private createClient(): EventGridPublisherClient<'CloudEvent'> {
    const { settings, credential } = this;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { AzureKeyCredential, EventGridPublisherClient: Client } = require('@azure/eventgrid') as typeof import('@azure/eventgrid');
    return new Client(settings.endpoint, 'CloudEvent', settings.key ? new AzureKeyCredential(settings.key) : credential, {
      ...(settings.caPem ? { tlsOptions: { ca: settings.caPem } } : {}),
      ...(settings.maxRetries !== undefined ? { retryOptions: { maxRetries: settings.maxRetries } } : {}),
    });
  }

  async publish(events: readonly OutboundEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.client.send(events.map(toCloudEvent));
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 400 || status === 413) throw new EventsRefusedError(status, (error as Error).message);
      throw error;
    }
  }
}
