/**
 * The review page as plain server-rendered HTML: no script, a little CSS, readable on a phone,
 * labelled controls, visible focus, text contrast of at least 4.5:1. Everything from a request is
 * escaped.
 */
import type { AccessRequest, Fact, HistoryEntry } from '../domain';

import { escapeHtml } from './html';

const STYLE = `
*{box-sizing:border-box}
body{font:17px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1b1b;background:#f5f5f5}
header{background:#123a63;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center}
header a{color:#fff}
main{max-width:46rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.45rem;line-height:1.3;margin:.5rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
.status{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:700;border:2px solid currentColor}
.st-Pending{color:#7a4d00}.st-Approved,.st-Active{color:#0b6a0b}.st-Denied,.st-Failed,.st-Revoked{color:#a4262c}.st-Expired,.st-Cancelled,.st-TimedOut{color:#505050}
.notice{background:#dff6dd;border-left:5px solid #0b6a0b;padding:.6rem .8rem}
.problem{background:#fde7e9;border-left:5px solid #a4262c;padding:.6rem .8rem}
.risk{background:#fff4ce;border-left:5px solid #7a4d00;padding:.6rem .8rem;font-weight:600}
.risk ul{margin:.2rem 0 0;padding-left:1.2rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:.5rem 0}
dt{font-weight:600;color:#333}dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{border-bottom:1px solid #c8c8c8;padding:.35rem .4rem;text-align:left;vertical-align:top}
td:last-child{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
caption{text-align:left;font-weight:600;padding:.3rem 0}
form{margin:1rem 0;padding:1rem;border:1px solid #8a8a8a;border-radius:.4rem}
label{display:block;font-weight:600;margin-bottom:.3rem}
textarea{width:100%;min-height:4.5rem;font:inherit;padding:.4rem;border:1px solid #616161;border-radius:.3rem}
.buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:.8rem}
button{font:inherit;font-weight:700;padding:.6rem 1.4rem;border-radius:.3rem;border:2px solid transparent;cursor:pointer;min-width:8rem}
.approve{background:#0b6a0b;color:#fff}.deny,.revoke{background:#a4262c;color:#fff}.cancel{background:#fff;color:#1b1b1b;border-color:#616161}
button:focus-visible,a:focus-visible,textarea:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}
.muted{color:#505050;font-size:.9rem}
code{overflow-wrap:anywhere}
@media (max-width:34rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}main{padding:.75rem}}
`;

function layout(title: string, body: string, signedIn?: { name: string; signOut: string }): string {
  const who = signedIn ? `<span>Signed in as <strong>${escapeHtml(signedIn.name)}</strong> · <a href="${escapeHtml(signedIn.signOut)}">Sign out</a></span>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="same-origin">
<title>${escapeHtml(title)} · HSM access governor</title>
<style>${STYLE}</style></head>
<body><header><span>HSM access governor</span>${who}</header>
<main>
${body}
</main></body></html>`;
}

export function messagePage(title: string, paragraphs: readonly string[], link?: { href: string; text: string }, signedIn?: { name: string; signOut: string }): string {
  const body = `<h1>${escapeHtml(title)}</h1>
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
${link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}`;
  return layout(title, body, signedIn);
}

export interface FormSpec {
  /** Where the form posts (the page's own URL, with its token). */
  action: string;
  csrf: string;
  /** The history length the reader saw: a post against a request that changed since is refused. */
  version: number;
}

export interface RequestPageModel {
  request: AccessRequest;
  facts: readonly Fact[];
  riskFlags: readonly string[];
  history: ReadonlyArray<HistoryEntry & { byName: string }>;
  signedIn: { name: string; signOut: string };
  notice?: string;
  problem?: string;
  /** Entries added since the reader's copy, when the request changed meanwhile. */
  changed?: ReadonlyArray<HistoryEntry & { byName: string }>;
  form: FormSpec;
  decide?: { target: 'request' | 'extension' };
  /** Why the reader cannot decide, when the request is waiting for a decision. */
  cannotDecide?: string;
  cancel: boolean;
  revoke: boolean;
}

function hidden(form: FormSpec): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(form.csrf)}"><input type="hidden" name="version" value="${form.version}">`;
}

function historyTable(caption: string, entries: RequestPageModel['history']): string {
  const rows = entries
    .map((e) => `<tr><td><time datetime="${escapeHtml(e.at)}">${escapeHtml(e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time></td><td>${escapeHtml(e.from ? `${e.from} → ${e.to}` : e.to)}</td><td>${escapeHtml(e.byName)}</td><td>${escapeHtml(e.reason)}</td></tr>`)
    .join('\n');
  return `<div class="scroll"><table><caption>${escapeHtml(caption)}</caption><thead><tr><th scope="col">When (UTC)</th><th scope="col">Status</th><th scope="col">By</th><th scope="col">What</th></tr></thead><tbody>
${rows}
</tbody></table></div>`;
}

export function requestPage(model: RequestPageModel): string {
  const { request, form } = model;
  const title = `${request.role} on ${request.scope}`;
  const parts: string[] = [];
  parts.push(`<h1>${escapeHtml(title)}</h1>`);
  parts.push(`<p>Status: <span class="status st-${escapeHtml(request.status)}">${escapeHtml(request.status)}</span></p>`);
  if (model.notice) parts.push(`<p class="notice" role="status">${escapeHtml(model.notice)}</p>`);
  if (model.problem) parts.push(`<div class="problem" role="alert"><p><strong>Nothing was changed.</strong> ${escapeHtml(model.problem)}</p></div>`);
  if (model.changed && model.changed.length > 0) parts.push(`<div class="problem" role="alert">${historyTable('What happened while you had the page open', model.changed)}</div>`);
  if (model.riskFlags.length > 0) {
    parts.push(`<div class="risk"><span>Look twice:</span><ul>${model.riskFlags.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul></div>`);
  }
  parts.push(`<h2>Request</h2><dl>${model.facts.map((f) => `<dt>${escapeHtml(f.title)}</dt><dd>${escapeHtml(f.value)}</dd>`).join('\n')}</dl>`);

  if (model.decide) {
    const what = model.decide.target === 'extension' ? 'the extension' : 'this request';
    parts.push(`<form method="post" action="${escapeHtml(form.action)}" aria-labelledby="decide-heading">
<h2 id="decide-heading">Your decision on ${what}</h2>
${hidden(form)}
<label for="comment">Comment (optional)</label>
<textarea id="comment" name="comment" maxlength="1000" aria-describedby="comment-help"></textarea>
<p id="comment-help" class="muted">Recorded with your decision in the audit trail.</p>
<div class="buttons"><button type="submit" name="action" value="approve" class="approve">Approve</button>
<button type="submit" name="action" value="deny" class="deny">Deny</button></div>
</form>`);
  } else if (model.cannotDecide) {
    parts.push(`<p class="muted">${escapeHtml(model.cannotDecide)}</p>`);
  }
  if (model.cancel) {
    parts.push(`<form method="post" action="${escapeHtml(form.action)}" aria-labelledby="cancel-heading">
<h2 id="cancel-heading">Cancel your request</h2>
${hidden(form)}
<div class="buttons"><button type="submit" name="action" value="cancel" class="cancel">Cancel request</button></div>
</form>`);
  }
  if (model.revoke) {
    parts.push(`<form method="post" action="${escapeHtml(form.action)}" aria-labelledby="revoke-heading">
<h2 id="revoke-heading">End the grant now</h2>
${hidden(form)}
<label for="reason">Reason (optional)</label>
<textarea id="reason" name="comment" maxlength="1000"></textarea>
<div class="buttons"><button type="submit" name="action" value="revoke" class="revoke">Revoke</button></div>
</form>`);
  }
  parts.push(`<h2>History</h2>${historyTable('Every change, oldest first', model.history)}`);
  parts.push(`<p class="muted">Request <code>${escapeHtml(request.id)}</code></p>`);
  return layout(title, parts.join('\n'), model.signedIn);
}
