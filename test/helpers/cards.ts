/** Reading the app's Adaptive Cards as a person sees them, and as Teams would interpret their text. */

type Element = Record<string, unknown>;

export interface CardView {
  /** The heading, the summary and the other lines, in order. */
  readonly lines: string[];
  readonly title: string;
  readonly summary: string;
  /** The fact rows (title column → value column). */
  readonly facts: Record<string, string>;
  readonly actions: Array<Record<string, string>>;
  /** Every string Teams renders as markdown: TextBlock texts and FactSet titles and values. */
  readonly markdownTexts: string[];
  /** Every TextRun's text (rendered as typed). */
  readonly plainTexts: string[];
}

function walk(node: unknown, visit: (element: Element) => void): void {
  if (Array.isArray(node)) node.forEach((child) => walk(child, visit));
  else if (node && typeof node === 'object') {
    visit(node as Element);
    for (const value of Object.values(node)) walk(value, visit);
  }
}

const runText = (block: Element): string => ((block.inlines as Element[] | undefined) ?? []).map((i) => (typeof i === 'string' ? i : String(i.text ?? ''))).join('');

/** A card's text: blocks outside the fact rows are its lines, two-column rows its facts. */
export function readCard(content: Record<string, unknown>): CardView {
  const markdownTexts: string[] = [];
  const plainTexts: string[] = [];
  walk(content.body, (element) => {
    if (element.type === 'TextBlock') markdownTexts.push(String(element.text));
    if (element.type === 'FactSet') for (const fact of element.facts as Element[]) markdownTexts.push(String(fact.title), String(fact.value));
    if (element.type === 'TextRun') plainTexts.push(String(element.text));
  });
  const facts: Record<string, string> = {};
  const lines: string[] = [];
  for (const element of content.body as Element[]) {
    if (element.type === 'RichTextBlock') lines.push(runText(element));
    if (element.type === 'TextBlock') lines.push(String(element.text));
    if (element.type === 'FactSet') for (const fact of element.facts as Element[]) facts[String(fact.title)] = String(fact.value);
    if (element.type === 'Container') {
      walk(element.items, (inner) => {
        if (inner.type !== 'ColumnSet') return;
        const [title, value] = (inner.columns as Element[]).map((column) => ((column.items as Element[]) ?? []).map(runText).join(''));
        facts[title ?? ''] = value ?? '';
      });
      if (!(element.items as Element[]).some((i) => i.type === 'ColumnSet')) walk(element.items, (inner) => inner.type === 'RichTextBlock' && lines.push(runText(inner)));
    }
  }
  return { lines, title: lines[0] ?? '', summary: lines[1] ?? '', facts, actions: (content.actions as Array<Record<string, string>> | undefined) ?? [], markdownTexts, plainTexts };
}
