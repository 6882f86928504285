/**
 * The portal's templates. Handlebars escapes every `{{value}}`; the only triple-stash is the layout's
 * `{{{body}}}`, which is another template's output. Nothing here calls an escaping function by hand.
 */
import Handlebars from 'handlebars';
import { visibleText } from '../domain/plainText';

const engine = Handlebars.create();

/** Bidi and control characters in user text are shown, not obeyed (then Handlebars escapes it). */
engine.registerHelper('text', (value: unknown) => visibleText(value));
/** `<time>` in words (UTC on hover); the page's script rewrites it into the viewer's time zone. */
engine.registerHelper('time', (iso: unknown) => {
  if (typeof iso !== 'string' || Number.isNaN(Date.parse(iso))) return '';
  const when = new Date(iso);
  const words = `${when.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return new Handlebars.SafeString(`<time datetime="${engine.escapeExpression(when.toISOString())}" title="${engine.escapeExpression(when.toUTCString())}">${engine.escapeExpression(words)}</time>`);
});
engine.registerHelper('eq', (a: unknown, b: unknown) => a === b);

const LAYOUT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · HSM access</title>
<style>
:root{font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1b;background:#fff}
body{margin:0}header{background:#0b3d6b;color:#fff;padding:.6rem 1rem}header a{color:#fff}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
main{max-width:60rem;margin:0 auto;padding:1rem}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #c75000;outline-offset:2px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ccc;vertical-align:top}
label{display:block;font-weight:600;margin-top:.8rem}input,select,textarea{font:inherit;padding:.3rem;max-width:100%}
button{font:inherit;padding:.4rem .9rem;background:#0b3d6b;color:#fff;border:0;border-radius:3px;cursor:pointer}
.error{border-left:4px solid #a4262c;padding:.5rem;background:#fde7e9}.hint{color:#444;font-size:.9rem}
[aria-current=page]{font-weight:700;text-decoration-thickness:3px}.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
code{font-size:.9em;word-break:break-all}.drift{background:#fde7e9}.warn{color:#8a3c00}.ok{color:#0b6a0b}ul.plain{list-style:none;margin:0;padding:0}
.basis{font-weight:600}.note{border-left:4px solid #8a6100;background:#fff4ce;padding:.5rem}th[scope=row]{font-weight:600}
fieldset{border:1px solid #ccc;margin:.8rem 0}.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:0 1rem}
@media (max-width:40rem){table,thead,tbody,tr,th,td{display:block}thead{position:absolute;left:-9999px}
td{border:0;padding:.2rem 0}td::before{content:attr(data-label) ": ";font-weight:600}tr{border-bottom:1px solid #ccc;padding:.5rem 0}}
</style></head>
<body><a href="#main" class="hint">Skip to content</a>
<header><nav aria-label="Portal"><ul>
<li><a href="/">Home</a></li><li><a href="/ask">Ask for access</a></li>
{{#each oversight}}<li><a href="{{href}}"{{#if current}} aria-current="page"{{/if}}>{{label}}</a></li>{{/each}}
{{#if signedIn}}<li>Signed in as {{text signedIn}} · <a href="/.auth/logout">Sign out</a></li>{{/if}}
</ul></nav></header>
<main id="main">{{{body}}}</main>
{{#if nonce}}<script nonce="{{nonce}}">
for (const z of document.querySelectorAll('input[name=tz]')) { const zone = Intl.DateTimeFormat().resolvedOptions().timeZone; if (z.value !== 'UTC' || !zone) continue;
  for (const i of z.form.querySelectorAll('input[type=datetime-local]')) if (i.value) { const d = new Date(i.value + 'Z'); i.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }
  z.value = zone; }
for (const t of document.querySelectorAll('time[datetime]')) t.textContent = new Date(t.dateTime).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
function left(ms){ if (ms <= 0) return 'ended'; const m = Math.floor(ms / 60000), h = Math.floor(m / 60); return (h ? h + ' h ' : '') + (m % 60) + ' min ' + (h ? '' : Math.floor(ms / 1000) % 60 + ' s ') + 'left'; }
function tick(){ for (const c of document.querySelectorAll('[data-expires]')) c.textContent = left(Date.parse(c.dataset.expires) - Date.now()); }
tick(); setInterval(tick, 1000);
</script>{{/if}}
</body></html>`;

const layout = engine.compile(LAYOUT, { strict: false });

export type Template<T> = (data: T) => string;

export function template<T>(source: string): Template<T> {
  return engine.compile(source) as Template<T>;
}

export interface PageFrame {
  readonly title: string;
  readonly signedIn?: string;
  /** The CSP nonce of the page's one script; without one the page has no script. */
  readonly nonce?: string;
  /** The page's own path: its link in the navigation is marked as the current page. */
  readonly path?: string;
}

/** The pages for administrators and auditors, in every page's navigation. */
export const OVERSIGHT_LINKS: ReadonlyArray<{ readonly href: string; readonly label: string }> = [
  { href: '/grants', label: 'Running grants' },
  { href: '/audit', label: 'Audit trail' },
  { href: '/api/reconcile/reports/latest', label: 'Reconciliation' },
  { href: '/api/reports/access', label: 'Access report' },
  { href: '/api/reports/keys', label: 'Keys report' },
];

export function page(frame: PageFrame, body: string): string {
  const oversight = OVERSIGHT_LINKS.map((link) => ({ ...link, current: frame.path === link.href }));
  return layout({ ...frame, oversight, body });
}
