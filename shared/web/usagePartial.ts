/**
 * What a grant was used for, as one partial any page about the grant can embed (the request's page):
 * operations per key with count and first and last use, or "not used". Data: the `usage` of
 * `GET /api/requests/{id}` (`GrantUsage`): `grantUsagePartial(usage)`, or `{{> grantUsage usage}}` inside
 * another template. Escaped by Handlebars like every portal template.
 */
import type { GrantUsage } from '../domain';
import { partial, template, type Template } from './templates';

export const GRANT_USAGE_PARTIAL = `<section aria-labelledby="usage-heading"><h2 id="usage-heading">What the grant was used for</h2>
{{#if used}}<p>From the HSM's own audit log: first use {{time firstUse}}, last use {{time lastUse}}.</p>
<table><thead><tr><th scope="col">Key</th><th scope="col">Operation</th><th scope="col">Count</th><th scope="col">First use</th><th scope="col">Last use</th></tr></thead><tbody>
{{#each operations}}<tr><td data-label="Key">{{text key}}</td><td data-label="Operation">{{text operation}}</td><td data-label="Count">{{count}}</td><td data-label="First use">{{time firstUse}}</td><td data-label="Last use">{{time lastUse}}</td></tr>
{{/each}}</tbody></table>
{{else}}<p>Not used: the HSM's audit log shows no key operation by the grantee under this grant.</p>{{/if}}
</section>`;

export const grantUsagePartial: Template<GrantUsage> = template<GrantUsage>(GRANT_USAGE_PARTIAL);

/** The partial's name for `{{> grantUsage usage}}` in another template (importing this module registers it). */
export const GRANT_USAGE_PARTIAL_NAME = 'grantUsage';
partial(GRANT_USAGE_PARTIAL_NAME, GRANT_USAGE_PARTIAL);
