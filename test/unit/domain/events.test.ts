import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import {
  driftDetectedEvent, driftRepairedEvent, OUTBOUND_EVENT_TYPES, reconciliationCompletedEvent, reconciliationCompletionEvents, rejectedSubmissionEvent, REQUEST_EVENT_TYPES,
  requestEventsBetween, SUBMIT_EVENT_TYPE, type OutboundEvent,
} from '../../../shared/domain/events';
import { EVENT_SCHEMA_TYPES, eventSchemaJson } from '../../../shared/domain/eventSchemas';
import { readSubmission, requesterAsCaller } from '../../../shared/domain/inboundEvents';
import { applyEvent, createRequest, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';
import { schemaErrors } from '../../helpers/eventSchemas';
import { CALLERS, G, NOW, OID, REPO_ROOT, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const SOURCE = '/hsm-access-governor/contoso-hsm';
const REQUEST_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'r', ticket: 'CHG-1' }, NOW) as EligibleRequest;
const later = (ms: number): Date => new Date(NOW.getTime() + ms);
const created = createRequest(policy, evaluation, { id: REQUEST_ID, requestedBy: OID.dave }, NOW);

function run(request: AccessRequest, steps: Array<[RequestEvent, Date]>): AccessRequest {
  return steps.reduce((r, [e, now]) => {
    const res = applyEvent(r, e, now);
    if (!res.ok) throw new Error(res.detail);
    return res.request;
  }, request);
}

/** The events of every step, as the workflow stores them change by change. */
function eventsOf(start: AccessRequest | undefined, steps: Array<[RequestEvent, Date]>, first: AccessRequest = created): OutboundEvent[] {
  const events = requestEventsBetween(start, first, SOURCE);
  let current = first;
  for (const step of steps) {
    const next = run(current, [step]);
    events.push(...requestEventsBetween(current, next, SOURCE));
    current = next;
  }
  return events;
}

const active = run(created, [[{ type: 'decide', by: OID.sam, decision: 'approve' }, NOW], [{ type: 'granted', assignmentName: 'a1b2c3d4-0000-4000-8000-000000000001' }, NOW]]);

describe('lifecycle events', () => {
  it('one event per change, in order, with ids from the request and history index', () => {
    const events = eventsOf(undefined, [
      [{ type: 'decide', by: OID.sam, decision: 'approve' }, NOW],
      [{ type: 'granted', assignmentName: 'a1b2c3d4-0000-4000-8000-000000000001' }, later(1000)],
      [{ type: 'requestExtension', by: OID.dave, durationMs: 60_000 }, later(2000)],
      [{ type: 'decideExtension', by: OID.sara, decision: 'approve' }, later(3000)],
      [{ type: 'expire' }, later(2 * 3_600_000)],
    ]);
    expect(events.map((e) => e.type)).toEqual([
      REQUEST_EVENT_TYPES.Submitted, REQUEST_EVENT_TYPES.Approved, REQUEST_EVENT_TYPES.Granted, REQUEST_EVENT_TYPES.Extended, REQUEST_EVENT_TYPES.Expired,
    ]);
    // The extension request (history index 3) is no event of its own.
    expect(events.map((e) => e.id)).toEqual([0, 1, 2, 4, 5].map((i) => `${REQUEST_ID}.${i}`));
    expect(events[2]).toMatchObject({ subject: `/hsms/contoso-hsm/requests/${REQUEST_ID}`, source: SOURCE, time: later(1000).toISOString(), specversion: '1.0' });
    expect(events[2]!.data).toMatchObject({ status: 'Active', previousStatus: 'Approved', actor: 'system', principalId: OID.appVm, requestedBy: OID.dave, ticket: 'CHG-1' });
    for (const event of events) expect(schemaErrors(event)).toEqual([]);
  });

  it('building the same change again gives the same events (a redo after a crash)', () => {
    const after = run(created, [[{ type: 'decide', by: OID.sam, decision: 'approve' }, NOW]]);
    expect(requestEventsBetween(created, after, SOURCE)).toEqual(requestEventsBetween(created, after, SOURCE));
  });

  it.each<[string, AccessRequest, Array<[RequestEvent, Date]>]>([
    [REQUEST_EVENT_TYPES.Denied, created, [[{ type: 'decide', by: OID.sam, decision: 'deny' }, NOW]]],
    [REQUEST_EVENT_TYPES.Cancelled, created, [[{ type: 'cancel', by: OID.dave }, NOW]]],
    [REQUEST_EVENT_TYPES.TimedOut, created, [[{ type: 'timeout' }, later(25 * 3_600_000)]]],
    [REQUEST_EVENT_TYPES.Revoked, active, [[{ type: 'revoke', by: OID.sam, reason: 'done' }, NOW]]],
    [REQUEST_EVENT_TYPES.Failed, active, [[{ type: 'fail', reason: 'gone' }, NOW]]],
  ])('%s is built and valid against its schema', (type, start, steps) => {
    const events = eventsOf(start, steps, start);
    expect(events.map((e) => e.type)).toEqual([type]);
    expect(schemaErrors(events[0]!)).toEqual([]);
  });

  it('no approval and a denied extension are no events; an approval short of the count is none either', () => {
    const officer = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto Officer', scope: '/', ticket: 'CHG-2', justification: 'recovery' }, NOW) as EligibleRequest;
    const twoApprovals = createRequest(policy, officer, { id: REQUEST_ID, requestedBy: OID.sam }, NOW);
    expect(eventsOf(twoApprovals, [[{ type: 'decide', by: OID.sara, decision: 'approve' }, NOW]], twoApprovals)).toEqual([]);
    expect(eventsOf(active, [[{ type: 'requestExtension', by: OID.dave, durationMs: 60_000 }, NOW], [{ type: 'decideExtension', by: OID.sam, decision: 'deny' }, NOW]], active)).toEqual([]);
  });

  it('a rule without approval gives Submitted then Approved', () => {
    const auditor = evaluateRequest(policy, CALLERS.alice!, { role: 'Crypto Auditor', scope: '/keys/k1', justification: 'review' }, NOW) as EligibleRequest;
    const events = requestEventsBetween(undefined, createRequest(policy, auditor, { id: REQUEST_ID, requestedBy: OID.alice }, NOW), SOURCE);
    expect(events.map((e) => e.type)).toEqual([REQUEST_EVENT_TYPES.Submitted, REQUEST_EVENT_TYPES.Approved]);
    for (const event of events) expect(schemaErrors(event)).toEqual([]);
  });
});

describe('rejection and reconciliation events', () => {
  it('are valid against their schemas, with ids stable for the same finding', () => {
    const rejected = rejectedSubmissionEvent({ origin: { source: 'https://itsm.contoso.example/hsm-access', id: 'CHG-7' }, requestId: REQUEST_ID, hsm: 'contoso-hsm', status: 403, code: 'not-eligible', detail: 'no rule', at: NOW.toISOString(), submitted: { role: 'Crypto Officer' } }, SOURCE);
    const run = { runId: '20250101T020000000Z-ab12cd34', hsm: 'contoso-hsm', mode: 'apply' as const };
    const item = { id: 'd1', kind: 'unexpected' as const, principalId: OID.dave, role: 'Managed HSM Crypto User', roleId: 'r', scope: '/keys/k', assignmentName: 'x', reason: 'no grant', action: 'remove' as const };
    const events = [
      rejected,
      reconciliationCompletedEvent({ ...run, completedAt: NOW.toISOString(), counts: { unexpected: 1, removed: 1 }, actions: 1 }, SOURCE),
      driftDetectedEvent(run, item, NOW.toISOString(), SOURCE),
      driftRepairedEvent(run, item, NOW.toISOString(), SOURCE),
    ];
    for (const event of events) expect(schemaErrors(event)).toEqual([]);
    expect(events.map((e) => e.id)).toEqual([`${REQUEST_ID}.rejected`, `${run.runId}.completed`, `${run.runId}.detected.d1`, `${run.runId}.repaired.d1`]);
    expect(events[2]!.subject).toBe('/hsms/contoso-hsm');
    expect(events[2]!.data).toMatchObject({ plane: 'hsm' });
    const arm = driftDetectedEvent(run, { ...item, plane: 'azure-rbac', scope: '/subscriptions/s/resourceGroups/g' }, NOW.toISOString(), SOURCE);
    expect(schemaErrors(arm)).toEqual([]);
    expect(arm.data).toMatchObject({ plane: 'azure-rbac' });
  });

  it("a completed run's events: one Detected per item then Completed, at most 90 a transaction, the same on a redo", () => {
    const run = { runId: 'r1', hsm: 'contoso-hsm', mode: 'plan' as const, completedAt: NOW.toISOString(), counts: { unexpected: 181 }, actions: 0 };
    const items = Array.from({ length: 181 }, (_, i) => ({ id: `d${i}`, kind: 'unexpected' as const, principalId: OID.dave, role: 'r', roleId: 'r', scope: '/', assignmentName: `a${i}`, reason: 'no grant', action: 'remove' as const }));
    const chunks = reconciliationCompletionEvents(run, items, SOURCE);
    expect(chunks.map((c) => c.length)).toEqual([90, 90, 2]);
    expect(chunks.flat().map((e) => e.id)).toEqual([...items.map((i) => `r1.detected.${i.id}`), 'r1.completed']);
    expect(chunks.flat().at(-1)!.type).toBe('HsmAccess.Reconciliation.Completed.v1');
    expect(reconciliationCompletionEvents(run, items, SOURCE)).toEqual(chunks);
    for (const event of chunks.flat()) expect(schemaErrors(event)).toEqual([]);
    expect(reconciliationCompletionEvents(run, [], SOURCE).map((c) => c.map((e) => e.id))).toEqual([['r1.completed']]);
    expect(reconciliationCompletionEvents(run, items.slice(0, 3), SOURCE, 2).map((c) => c.length)).toEqual([2, 2]);
  });

  it('a schema rejects an event that breaks it', () => {
    const [submitted] = requestEventsBetween(undefined, created, SOURCE);
    expect(schemaErrors({ ...submitted!, data: { ...submitted!.data, status: 'Active' } })).not.toEqual([]);
    expect(schemaErrors({ ...submitted!, subject: 'requests/1' })).not.toEqual([]);
  });
});

describe('schema files', () => {
  it('docs/events holds exactly the generated schema of every type', () => {
    const files = readdirSync(join(REPO_ROOT, 'docs', 'events')).filter((f) => f.endsWith('.schema.json')).sort();
    expect(files).toEqual([...EVENT_SCHEMA_TYPES].map((t) => `${t}.schema.json`).sort());
    expect([...EVENT_SCHEMA_TYPES].sort()).toEqual([...OUTBOUND_EVENT_TYPES, SUBMIT_EVENT_TYPE].sort());
    for (const type of EVENT_SCHEMA_TYPES) expect(readFileSync(join(REPO_ROOT, 'docs', 'events', `${type}.schema.json`), 'utf8')).toBe(eventSchemaJson(type));
  });
});

describe('inbound submissions', () => {
  const ITSM = 'https://itsm.contoso.example/hsm-access';
  const data = { requester: 'dave', role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'release', ticket: 'CHG-9' };

  it('reads a trusted submission; refuses other types, untrusted sources and invalid data with stable codes', () => {
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: ITSM, data })).toMatchObject({ ok: true, requester: 'dave', input: { role: 'Crypto User', principalId: OID.appVm } });
    expect(readSubmission(policy, { type: 'Other.v1', source: ITSM, data })).toMatchObject({ ok: false, code: 'unsupported-event-type' });
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: 'https://evil.example', data })).toMatchObject({ ok: false, status: 403, code: 'untrusted-source' });
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: ITSM, data: 'x' })).toMatchObject({ ok: false, status: 400, code: 'invalid-body' });
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: ITSM, data: { ...data, role: 7 } })).toMatchObject({ ok: false, code: 'invalid-body', detail: expect.stringContaining('role') });
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: ITSM, data: { ...data, extra: 'x' } })).toMatchObject({ ok: false, code: 'invalid-body', detail: expect.stringContaining('extra') });
    expect(readSubmission(policy, { type: SUBMIT_EVENT_TYPE, source: ITSM, data: { role: 'Crypto User', scope: '/' } })).toMatchObject({ ok: false, code: 'invalid-body', detail: expect.stringContaining('requester') });
  });

  it('names the requester by object id, alias or email, with the groups the policy gives', () => {
    expect(requesterAsCaller(policy, 'dave')).toEqual({ objectId: OID.dave, groups: [G.appDevOps] });
    expect(requesterAsCaller(policy, 'Dave@Contoso.example')).toEqual({ objectId: OID.dave, groups: [G.appDevOps] });
    expect(requesterAsCaller(policy, OID.sam.toUpperCase())).toEqual({ objectId: OID.sam, groups: [G.securityTeam] });
    // Fail closed: an object id the policy does not declare, and a group, are no requester.
    expect(requesterAsCaller(policy, '00000000-0000-4000-8000-000000000000')).toMatchObject({ ok: false, code: 'unknown-requester' });
    expect(requesterAsCaller(policy, 'security-team')).toMatchObject({ ok: false, code: 'group-principal' });
    expect(requesterAsCaller(policy, G.appDevOps)).toMatchObject({ ok: false, code: 'group-principal' });
    expect(requesterAsCaller(policy, 'mallory@contoso.example')).toMatchObject({ ok: false, code: 'unknown-requester' });
  });

  it('no source is trusted without an events section', () => {
    const { events: _none, ...withoutEvents } = policy;
    expect(readSubmission(withoutEvents, { type: SUBMIT_EVENT_TYPE, source: ITSM, data })).toMatchObject({ ok: false, code: 'untrusted-source' });
  });
});
