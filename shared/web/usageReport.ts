/**
 * `GET /api/reports/usage` as a page, in the portal's layout (Handlebars escapes every value): what
 * grants were used for, right-sizing per rule, refused attempts, use outside any grant and role
 * assignments changed outside the service. The same content as the JSON answer.
 */
import type { AuditorsUsageReport } from '../services/evidence';
import { page, template } from './templates';
import type { ReportFrame } from './reports';

const USAGE = template<AuditorsUsageReport>(`<h1>Key usage under grants</h1>
{{#unless evidence}}<p class="warn">The HSM's audit log is not read (AUDIT_LOGS_STORAGE is not set): every grant shows as unused.</p>{{/unless}}
<p>From the HSM's own audit log: {{used}} grant(s) used, {{unused}} not used.</p>
<h2>Use outside any grant (strongest drift signal)</h2>
{{#if outsideAnyGrant}}<table><thead><tr><th scope="col">At</th><th scope="col">Principal</th><th scope="col">Operation</th><th scope="col">Key</th><th scope="col">Correlation id</th></tr></thead><tbody>
{{#each outsideAnyGrant}}<tr class="drift"><td data-label="At">{{time time}}</td><td data-label="Principal"><code>{{principalId}}</code></td><td data-label="Operation">{{text operation}}</td><td data-label="Key">{{text key}}</td><td data-label="Correlation id"><code>{{correlationId}}</code></td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Grants</h2>
{{#if grants}}<table><thead><tr><th scope="col">Request</th><th scope="col">Rule</th><th scope="col">Grantee</th><th scope="col">Access</th><th scope="col">Granted</th><th scope="col">Operations</th></tr></thead><tbody>
{{#each grants}}<tr><td data-label="Request"><code>{{id}}</code></td><td data-label="Rule">{{text ruleId}}</td><td data-label="Grantee"><code>{{principalId}}</code></td><td data-label="Access">{{text role}} on <code>{{scope}}</code></td><td data-label="Granted">{{time grantedAt}}</td>
<td data-label="Operations">{{#if used}}<ul class="plain">{{#each operations}}<li>{{text operation}} on {{text key}}: {{count}}, {{time firstUse}} to {{time lastUse}}</li>{{/each}}</ul>{{else}}<span class="warn">not used</span>{{/if}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Rules: right-sizing</h2>
{{#if rules}}<table><thead><tr><th scope="col">Rule</th><th scope="col">Grants</th><th scope="col">Used</th><th scope="col">Suggestion</th></tr></thead><tbody>
{{#each rules}}<tr><td data-label="Rule">{{text ruleId}}</td><td data-label="Grants">{{grants}}</td><td data-label="Used">{{used}}</td><td data-label="Suggestion">{{text suggestion}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Refused attempts</h2>
{{#if refusedAttempts}}<table><thead><tr><th scope="col">Principal</th><th scope="col">Key</th><th scope="col">Refused</th><th scope="col">First</th><th scope="col">Last</th></tr></thead><tbody>
{{#each refusedAttempts}}<tr{{#if persistent}} class="drift"{{/if}}><td data-label="Principal"><code>{{principalId}}</code></td><td data-label="Key">{{text key}}</td><td data-label="Refused">{{count}}{{#if persistent}} <span class="warn">(persistent)</span>{{/if}}</td><td data-label="First">{{time firstAttempt}}</td><td data-label="Last">{{time lastAttempt}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Role assignments changed outside the service</h2>
{{#if assignmentChanges}}<table><thead><tr><th scope="col">At</th><th scope="col">By</th><th scope="col">Operation</th><th scope="col">Scope</th><th scope="col">Correlation id</th></tr></thead><tbody>
{{#each assignmentChanges}}<tr class="drift"><td data-label="At">{{time time}}</td><td data-label="By"><code>{{principalId}}</code></td><td data-label="Operation">{{text operation}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="Correlation id"><code>{{correlationId}}</code></td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}`);

export function usagePage(report: AuditorsUsageReport, frame: ReportFrame = {}): string {
  return page({ ...frame, title: 'Key usage under grants', path: '/api/reports/usage' }, USAGE(report));
}
