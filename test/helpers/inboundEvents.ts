/** Raising access requests as events on the local stack: published to the topic emulator, delivered to the app's trigger. */
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { CONTOSO_ITSM_SOURCE } from '../../dev/stack';
import { SUBMIT_EVENT_TYPE } from '../../shared/domain';
import type { TestStack } from './stack';

export interface SubmitEvent {
  id: string;
  source?: string;
  data: Record<string, unknown>;
}

/** Publishes one HsmAccess.Request.Submit.v1 event as the ITSM tool would and waits until the app has taken it. */
export async function deliverSubmission(stack: TestStack, event: SubmitEvent): Promise<void> {
  const grid = stack.stack.eventGrid;
  const before = grid.deliveries().filter((d) => d.eventId === event.id).length;
  const client = new EventGridPublisherClient(grid.endpoint, 'CloudEvent', new AzureKeyCredential(grid.accessKey), { tlsOptions: { ca: grid.caPem } });
  await client.send([{ type: SUBMIT_EVENT_TYPE, subject: 'tickets', source: event.source ?? CONTOSO_ITSM_SOURCE, id: event.id, data: event.data }]);
  await grid.waitForDeliveries((deliveries) => {
    const mine = deliveries.filter((d) => d.eventId === event.id);
    return mine.length > before && mine.every((d) => d.status !== 'pending');
  }, 15_000);
}
