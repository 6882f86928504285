/**
 * The portal's templates. Handlebars escapes every `{{value}}`; the only triple-stash is the layout's
 * `{{{body}}}`, which is another template's output. Nothing here calls an escaping function by hand.
 */
import Handlebars from 'handlebars';
import { visibleText } from '../domain/plainText';

const engine = Handlebars.create();

/** Bidi and control characters in user text are shown, not obeyed (then Handlebars escapes it). */
engine.registerHelper('text', (value: unknown) => visibleText(value));
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** "2 Dec 2026, 17:09 UTC" */
export function timeInWords(when: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${when.getUTCDate()} ${MONTHS[when.getUTCMonth()]} ${when.getUTCFullYear()}, ${pad(when.getUTCHours())}:${pad(when.getUTCMinutes())} UTC`;
}
/** `<time>` in words (UTC on hover); the page's script rewrites it into the viewer's time zone. */
engine.registerHelper('time', (iso: unknown) => {
  if (typeof iso !== 'string' || Number.isNaN(Date.parse(iso))) return '';
  const when = new Date(iso);
  return new Handlebars.SafeString(`<time datetime="${engine.escapeExpression(when.toISOString())}" title="${engine.escapeExpression(when.toUTCString())}">${engine.escapeExpression(timeInWords(when))}</time>`);
});
engine.registerHelper('eq', (a: unknown, b: unknown) => a === b);

const STYLE = `
*{box-sizing:border-box}
:root{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5;color:#1b1b1b;background:#fff}
body{margin:0}header{background:#0b3d6b;color:#fff;padding:.6rem 1rem}header a{color:#fff}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1rem}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.45rem;line-height:1.3;margin:.5rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}h3{font-size:1.05rem;margin:.4rem 0}
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #c75000;outline-offset:2px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ccc;vertical-align:top}
caption{text-align:left;font-weight:600;padding:.3rem 0}
label{display:block;font-weight:600;margin-top:.8rem}input,select,textarea{font:inherit;padding:.3rem;max-width:100%;border:1px solid #616161;border-radius:3px}
textarea{width:100%}
button{font:inherit;font-weight:600;padding:.45rem 1rem;background:#0b3d6b;color:#fff;border:2px solid transparent;border-radius:3px;cursor:pointer}
.approve{background:#0b6a0b}.deny,.revoke{background:#a4262c}.cancel{background:#fff;color:#1b1b1b;border-color:#616161}
.buttons{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:.6rem}
.error,.problem{border-left:5px solid #a4262c;padding:.5rem .8rem;background:#fde7e9}
.notice{background:#dff6dd;border-left:5px solid #0b6a0b;padding:.5rem .8rem}
.risk{background:#fff4ce;border-left:5px solid #7a4d00;padding:.5rem .8rem;font-weight:600}.risk ul{margin:.2rem 0 0;padding-left:1.2rem}
.hint,.muted{color:#444;font-size:.9rem}
.status{display:inline-block;padding:.1rem .6rem;border-radius:1rem;font-weight:700;border:2px solid currentColor}
.st-Pending{color:#7a4d00}.st-Approved,.st-Active{color:#0b6a0b}.st-Denied,.st-Failed,.st-Revoked{color:#a4262c}.st-Expired,.st-Cancelled,.st-TimedOut{color:#505050}
.card{border:1px solid #8a8a8a;border-radius:.4rem;padding:.8rem 1rem;margin:1rem 0}
form.action{margin:1rem 0;padding:.8rem 1rem;border:1px solid #8a8a8a;border-radius:.4rem}
form.inline{display:inline-flex;flex-wrap:wrap;gap:.4rem;align-items:flex-end;margin:.2rem 0}form.inline label{margin:0;font-weight:400}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:.5rem 0}
dt{font-weight:600;color:#333}dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
code{overflow-wrap:anywhere}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-9999px}.skip:focus{position:static}
[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.drift{background:#fde7e9}.warn{color:#8a3c00}.ok{color:#0b6a0b}ul.plain{list-style:none;margin:0;padding:0}
.basis{font-weight:600}.note{border-left:5px solid #7a4d00;background:#fff4ce;padding:.5rem .8rem}th[scope=row]{font-weight:600}
.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:0 1rem}
@media (max-width:40rem){table,thead,tbody,tr,th,td,caption{display:block}thead{position:absolute;left:-9999px}
td{border:0;padding:.2rem 0}td[data-label]::before{content:attr(data-label) ": ";font-weight:600}tr{border-bottom:1px solid #ccc;padding:.5rem 0}
dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}main{padding:.75rem}}
`;

/** The one script of every page: local times, live countdowns, the ask form fitted to the chosen rule. */
const SCRIPT = `
for (const t of document.querySelectorAll('time[datetime]')) t.textContent = new Date(t.dateTime).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
function left(ms){ if (ms <= 0) return 'ended'; const m = Math.floor(ms / 60000), h = Math.floor(m / 60); return (h ? h + ' h ' : '') + (m % 60) + ' min ' + (h ? '' : Math.floor(ms / 1000) % 60 + ' s ') + 'left'; }
function tick(){ for (const c of document.querySelectorAll('[data-expires]')) c.textContent = left(Date.parse(c.dataset.expires) - Date.now()); }
tick(); setInterval(tick, 1000);
for (const z of document.querySelectorAll('input[name=tz]')) { const zone = Intl.DateTimeFormat().resolvedOptions().timeZone; if (z.value !== 'UTC' || !zone) continue;
  for (const i of z.form.querySelectorAll('input[type=datetime-local]')) if (i.value) { const d = new Date(i.value + 'Z'); i.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }
  z.value = zone; }
const target = document.getElementById('target'), grantee = document.getElementById('grantee'), ticket = document.getElementById('ticket'), check = document.getElementById('ticket-check'), duration = document.getElementById('duration');
function fitToRule(){
  const o = target.selectedOptions[0]; if (!o) return;
  for (const g of grantee.options) { g.hidden = g.disabled = !(' ' + g.dataset.rules + ' ').includes(' ' + o.dataset.rule + ' '); }
  if (grantee.selectedOptions[0] && grantee.selectedOptions[0].disabled) { const first = [...grantee.options].find((g) => !g.disabled); if (first) first.selected = true; }
  for (const d of duration.options) d.hidden = d.disabled = Number(d.dataset.ms) > Number(o.dataset.maxMs) || Number(d.dataset.ms) < Number(o.dataset.minMs);
  if (o.dataset.ticketPattern) ticket.pattern = o.dataset.ticketPattern; else ticket.removeAttribute('pattern');
  ticket.required = o.dataset.ticketRequired === 'true';
  checkTicket();
}
function checkTicket(){
  if (!check) return;
  const o = target.selectedOptions[0], p = o && o.dataset.ticketPattern;
  check.textContent = !p ? (ticket.required ? 'A ticket is needed.' : '') : !ticket.value ? 'The ticket must match ' + p + '.' : new RegExp(p).test(ticket.value) ? 'The ticket matches ' + p + '.' : 'Not yet: the ticket must match ' + p + '.';
}
if (target && grantee && ticket && duration) { target.addEventListener('change', fitToRule); ticket.addEventListener('input', checkTicket); fitToRule(); }
`;

const LAYOUT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="same-origin">
<title>{{title}} · HSM access</title>
<style>${STYLE}</style></head>
<body><a href="#main" class="skip">Skip to content</a>
<header><nav aria-label="Portal"><ul>
<li><a href="/">Home</a></li><li><a href="/ask">Ask for access</a></li><li><a href="/approvals">Approvals</a></li>
{{#each oversight}}<li><a href="{{href}}"{{#if current}} aria-current="page"{{/if}}>{{label}}</a></li>{{/each}}
{{#if signedIn}}<li>Signed in as {{text signedIn}} · <a href="{{#if signOut}}{{signOut}}{{else}}/.auth/logout{{/if}}">Sign out</a></li>{{/if}}
</ul></nav></header>
<main id="main">{{{body}}}</main>
{{#if nonce}}<script nonce="{{nonce}}">${SCRIPT}</script>{{/if}}
</body></html>`;

const layout = engine.compile(LAYOUT, { strict: false });

export type Template<T> = (data: T) => string;

export function template<T>(source: string): Template<T> {
  return engine.compile(source) as Template<T>;
}

export interface PageFrame {
  readonly title: string;
  readonly signedIn?: string;
  /** Where Sign out goes (by default `/.auth/logout`). */
  readonly signOut?: string;
  /** The CSP nonce of the page's one script; without one the page has no script. */
  readonly nonce?: string;
  /** The page's own path: its link in the navigation is marked as the current page. */
  readonly path?: string;
  /** False: the viewer is neither administrator nor auditor, and the navigation leaves out their pages. */
  readonly overseer?: boolean;
}

/** The pages for administrators and auditors, in every page's navigation. */
export const OVERSIGHT_LINKS: ReadonlyArray<{ readonly href: string; readonly label: string }> = [
  { href: '/grants', label: 'Running grants' },
  { href: '/audit', label: 'Audit trail' },
  { href: '/api/reconcile/reports/latest', label: 'Reconciliation' },
  { href: '/api/reports/access', label: 'Access report' },
  { href: '/api/reports/keys', label: 'Keys report' },
  { href: '/api/reports/usage', label: 'Usage report' },
];

/** A partial other templates include with `{{> name}}`. */
export function partial(name: string, source: string): void {
  engine.registerPartial(name, source);
}

export function page(frame: PageFrame, body: string): string {
  const oversight = frame.overseer === false ? [] : OVERSIGHT_LINKS.map((link) => ({ ...link, current: frame.path === link.href }));
  return layout({ ...frame, oversight, body });
}
