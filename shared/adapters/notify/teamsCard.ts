import type { Template as CardTemplate } from 'adaptivecards-templating';
import { oneLineText } from '../../domain';
import type { OutgoingNotification } from '../../services/notificationPorts';

/** A RichTextBlock of one TextRun: the Adaptive Cards schema renders no markdown in a TextRun. */
const plainRun = (text: string, run: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'RichTextBlock', inlines: [{ type: 'TextRun', text, ...run }] });

/**
 * The approvers' and requesters' Adaptive Card (schema 1.5), expanded from a template with
 * adaptivecards-templating: the data never becomes template text, so `${...}` in a justification
 * stays literal. Teams renders markdown in a TextBlock's text and in a FactSet's titles and values,
 * so no data goes there: every piece of it is a TextRun in a RichTextBlock, which renders no
 * markdown (a `[link](url)`, `**bold**` or `<https://...>` is shown as typed), and the facts are
 * rows of two columns instead of a FactSet. TextBlocks carry only the card's own fixed words.
 */
export const CARD_TEMPLATE = {
  type: 'AdaptiveCard',
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
  version: '1.5',
  msteams: { width: 'Full' },
  body: [
    plainRun('${title}', { size: 'Medium', weight: 'Bolder' }),
    plainRun('${summary}'),
    {
      type: 'Container',
      $when: '${count(riskFlags) > 0}',
      style: 'attention',
      items: [plainRun("Risk: ${join(riskFlags, ' · ')}", { weight: 'Bolder', color: 'Attention' })],
    },
    {
      type: 'Container',
      id: 'facts',
      items: [{
        type: 'ColumnSet',
        $data: '${facts}',
        spacing: 'Small',
        columns: [
          { type: 'Column', width: 2, items: [plainRun('${title}', { weight: 'Bolder' })] },
          { type: 'Column', width: 5, items: [plainRun('${value}')] },
        ],
      }],
    },
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

// adaptivecards-templating brings ~500 modules: loaded when the first card is built, not at cold start.
let templateClass: typeof CardTemplate | undefined;
function cardTemplate(): typeof CardTemplate {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  templateClass ??= (require('adaptivecards-templating') as typeof import('adaptivecards-templating')).Template;
  return templateClass;
}

function expand(notification: OutgoingNotification, limit: number | undefined): TeamsMessage {
  const clip = (text: string): string => (limit !== undefined && text.length > limit ? `${text.slice(0, limit)}… (shortened)` : text);
  const data = {
    title: clip(oneLineText(notification.title)),
    summary: clip(oneLineText(notification.summary)),
    riskFlags: notification.riskFlags.map(oneLineText),
    facts: notification.facts.map((fact) => ({ title: oneLineText(fact.title), value: oneLineText(TRUNCATABLE.has(fact.title) ? clip(fact.value) : fact.value) })),
    link: notification.link ?? '',
    linkLabel: notification.linkLabel,
    actionRequired: notification.actionRequired,
  };
  const content = new (cardTemplate())(CARD_TEMPLATE).expand({ $root: data }) as Record<string, unknown>;
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
