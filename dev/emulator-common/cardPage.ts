import { join } from 'node:path';

/**
 * The page shell the local Teams stand-ins render Adaptive Cards in (the webhook sink, the Bot
 * Framework channel): the `adaptivecards` library served from node_modules, then the page's own script.
 */

export const ADAPTIVE_CARDS_LIBRARY = join(__dirname, '..', '..', 'node_modules', 'adaptivecards', 'dist', 'adaptivecards.min.js');
export const CARD_PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

export interface CardPage {
  readonly title: string;
  /** HTML between the heading and the cards (the stand-in's own words; no data goes here). */
  readonly intro: string;
  /** The page's script, served from this path. */
  readonly script: string;
  readonly bodyAttributes?: string;
  readonly maxWidth?: string;
  readonly extraCss?: string;
}

export function cardPage(page: CardPage): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title}</title>
<style>
body{font:16px/1.5 "Segoe UI",system-ui,sans-serif;background:#f0f0f0;margin:0;padding:1rem;color:#1b1b1b}
main{max-width:${page.maxWidth ?? '44rem'};margin:0 auto}
.post{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0003;margin:1rem 0;padding:.8rem}
.meta{font-size:.85rem;color:#444;margin-bottom:.5rem}
.card{border-left:4px solid #5b5fc7;padding-left:.6rem}
.ac-pushButton{cursor:pointer}${page.extraCss ?? ''}
</style></head>
<body${page.bodyAttributes ? ` ${page.bodyAttributes}` : ''}><main><h1>${page.title}</h1>
${page.intro}
<div id="cards" aria-live="polite"></div></main>
<script src="/adaptivecards.min.js"></script>
<script src="${page.script}"></script>
</body></html>`;
}
