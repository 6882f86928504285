import { Template } from 'adaptivecards-templating';
import type { OutgoingNotification } from '../../services/notificationPorts';

/**
 * The approvers' and requesters' Adaptive Card (schema 1.5), expanded from a template with
 * adaptivecards-templating: the data never becomes template text, so `${...}` in a justification
 * stays literal.
 */
export const CARD_TEMPLATE = {
  type: 'AdaptiveCard',
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
  version: '1.5',
  msteams: { width: 'Full' },
  body: [
    { type: 'TextBlock', text: '${title}', style: 'heading', size: 'Medium', weight: 'Bolder', wrap: true },
    { type: 'TextBlock', text: '${summary}', wrap: true },
    {
      type: 'Container',
      $when: '${count(riskFlags) > 0}',
      style: 'attention',
      items: [{ type: 'TextBlock', text: "Risk: ${join(riskFlags, ' · ')}", weight: 'Bolder', color: 'Attention', wrap: true }],
    },
    { type: 'FactSet', facts: [{ $data: '${facts}', title: '${title}', value: '${value}' }] },
    { type: 'TextBlock', $when: '${link == \'\'}', text: 'Open the request in the HSM access governor (no review link is configured).', isSubtle: true, wrap: true },
  ],
  actions: [{ type: 'Action.OpenUrl', $when: "${link != ''}", title: '${linkLabel}', url: '${link}', style: '${if(actionRequired, \'positive\', \'default\')}' }],
} as const;

/** Teams rejects larger messages; stay safely under it. */
export const MAX_CARD_PAYLOAD_BYTES = 28 * 1024;
const TRUNCATABLE = new Set(['Justification', 'Last decision', 'Ticket']);

/** The Teams Workflows webhook message: one Adaptive Card attachment. */
export interface TeamsMessage {
  type: 'message';
  attachments: Array<{ contentType: 'application/vnd.microsoft.card.adaptive'; contentUrl: null; content: Record<string, unknown> }>;
}

function expand(notification: OutgoingNotification, limit: number | undefined): TeamsMessage {
  const clip = (text: string): string => (limit !== undefined && text.length > limit ? `${text.slice(0, limit)}… (shortened)` : text);
  const data = {
    title: clip(notification.title),
    summary: clip(notification.summary),
    riskFlags: [...notification.riskFlags],
    facts: notification.facts.map((fact) => ({ title: fact.title, value: TRUNCATABLE.has(fact.title) ? clip(fact.value) : fact.value })),
    link: notification.link ?? '',
    linkLabel: notification.linkLabel,
    actionRequired: notification.actionRequired,
  };
  const content = new Template(CARD_TEMPLATE).expand({ $root: data }) as Record<string, unknown>;
  return { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content }] };
}

/** The webhook body for a notification, its free text shortened until the whole message fits in 28 KB. */
export function teamsMessageFor(notification: OutgoingNotification): TeamsMessage {
  for (const limit of [undefined, 4000, 1000, 200]) {
    const message = expand(notification, limit);
    if (Buffer.byteLength(JSON.stringify(message)) <= MAX_CARD_PAYLOAD_BYTES) return message;
  }
  throw new Error(`The card for request ${notification.requestId} does not fit in ${MAX_CARD_PAYLOAD_BYTES} bytes`);
}
