/**
 * Access requests that arrive as CloudEvents (HsmAccess.Request.Submit.v1): reading the event and
 * naming its requester. Everything else (eligibility, approval) is decided exactly as over HTTP.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Caller, RequestInput } from './eligibility';
import { eventSchema } from './eventSchemas';
import { SUBMIT_EVENT_TYPE, type SubmissionOrigin } from './events';
import { principalByObjectId } from './policy/parse';
import type { Policy } from './policy/types';
import { isGuid } from './roles';

export interface SubmissionRefusal {
  readonly ok: false;
  readonly status: 400 | 403;
  readonly code: 'invalid-body' | 'unsupported-event-type' | 'untrusted-source' | 'unknown-requester' | 'group-principal';
  readonly detail: string;
}

export interface Submission {
  readonly ok: true;
  readonly requester: string;
  readonly input: RequestInput;
}

// The schema is fixed and checked against the meta-schema by test/unit/schema-meta.test.ts: compiling
// the meta-schema at every cold start would cost more than the rest of the policy check.
const ajv = new Ajv2020({ allErrors: false, strict: true, strictTypes: false, strictRequired: false, validateSchema: false });
addFormats(ajv);
const dataSchema = (eventSchema(SUBMIT_EVENT_TYPE) as { properties: { data: object } }).properties.data;
const validateData = ajv.compile<Record<string, string>>(dataSchema);

const refuse = (status: SubmissionRefusal['status'], code: SubmissionRefusal['code'], detail: string): SubmissionRefusal => ({ ok: false, status, code, detail });

/** The source and id that name a delivery, or undefined for something that is not a CloudEvent at all. */
export function submissionOrigin(event: unknown): SubmissionOrigin | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const { source, id } = event as { source?: unknown; id?: unknown };
  return typeof source === 'string' && source !== '' && typeof id === 'string' && id !== '' ? { source, id } : undefined;
}

/** The string fields of the event's data, for the record of a refusal. */
export function submittedFields(event: unknown): Record<string, string> {
  const data = (event as { data?: unknown } | null)?.data;
  if (typeof data !== 'object' || data === null) return {};
  return Object.fromEntries(Object.entries(data).filter((entry): entry is [string, string] => typeof entry[1] === 'string').map(([k, v]) => [k, v.slice(0, 500)]));
}

/** Checks type, source and data (in that order: an untrusted source learns nothing about its data). */
export function readSubmission(policy: Policy, event: { type?: unknown; source: string; data?: unknown }): Submission | SubmissionRefusal {
  if (event.type !== SUBMIT_EVENT_TYPE) return refuse(400, 'unsupported-event-type', `Only ${SUBMIT_EVENT_TYPE} events are accepted`);
  if (!(policy.events?.trustedSources ?? []).includes(event.source)) return refuse(403, 'untrusted-source', `The policy does not trust the event source '${event.source}'`);
  const data = event.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return refuse(400, 'invalid-body', 'data must be a JSON object');
  if (!validateData(data)) {
    const error = validateData.errors?.[0];
    const field = error?.instancePath.replace(/^\//, '') || (error?.params as { missingProperty?: string; additionalProperty?: string } | undefined)?.missingProperty || (error?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    return refuse(400, 'invalid-body', `data${field ? ` '${field}'` : ''} ${error?.message ?? 'is not valid'}`);
  }
  const { requester, ...input } = data as unknown as { requester: string } & RequestInput;
  return { ok: true, requester, input };
}

/**
 * The requester as a caller: an object id, a policy alias, or a principal's email (UPN). With no
 * token to vouch for it, the requester must be a user or service principal the policy declares
 * (fail closed): an undeclared object id or a group is refused. Its groups are those the policy
 * lists it as a member of.
 */
export function requesterAsCaller(policy: Policy, requester: string): Caller | SubmissionRefusal {
  const wanted = requester.trim().toLowerCase();
  const principals = Object.values(policy.principals);
  const principal = isGuid(wanted)
    ? principalByObjectId(policy, wanted)
    : principals.find((p) => p.alias.toLowerCase() === wanted || p.email?.toLowerCase() === wanted);
  if (!principal) {
    return refuse(403, 'unknown-requester', `The policy declares no user or service principal '${requester}': an event's requester must be one declared under principals (by object id, alias or email)`);
  }
  if (principal.type === 'Group') {
    return refuse(403, 'group-principal', `'${principal.alias}' is a group: an event's requester is a user or a service principal, never a group (its members would approve a grant to themselves)`);
  }
  const groups = principals.filter((p) => p.type === 'Group' && p.members.includes(principal.alias)).map((p) => p.objectId);
  return { objectId: principal.objectId, groups };
}
