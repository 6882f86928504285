import { evaluateRequest, type EligibleRequest } from '../../shared/domain/eligibility';
import { createRequest, type AccessRequest } from '../../shared/domain/lifecycle';
import { actionsFor, durationChoices, durationInWords, requestFacts, scopeLabel, summarize } from '../../shared/web/requestViews';
import { template, timeInWords } from '../../shared/web/templates';
import { CALLERS, NOW, OID, applied, contosoPolicy } from './domain/fixtures';

/** The pieces every portal page shows of a request, from the Contoso policy's own rules. */
const policy = contosoPolicy();
const forms = { action: '/requests/r', csrf: 'token', version: 1 };

function asked(caller: keyof typeof CALLERS, input: Parameters<typeof evaluateRequest>[2], id: string): AccessRequest {
  const evaluation = evaluateRequest(policy, CALLERS[caller]!, input, NOW);
  if (!('hsm' in evaluation)) throw new Error(JSON.stringify(evaluation));
  return createRequest(policy, evaluation as EligibleRequest, { id, requestedBy: CALLERS[caller]!.objectId }, NOW);
}

describe('a request as the portal shows it', () => {
  const officer = asked('sam', { role: 'Crypto Officer', scope: '/', justification: 'recover <key>', ticket: 'INC-7' }, 'r-officer');

  it('counts the approvals as N of M and flags the risks', () => {
    const summary = summarize(policy, officer, NOW);
    expect(summary.progress).toBe('0 of 2 approvals');
    expect(summary.riskFlags).toEqual(expect.arrayContaining(['Privileged role', 'HSM-wide scope']));
    expect(summarize(policy, applied(officer, { type: 'decide', by: OID.sara, decision: 'approve' }), NOW).progress).toBe('1 of 2 approvals');
    expect(summary.short).toBe('Managed HSM Crypto Officer on the whole HSM for Sam Security');
  });

  it('offers each viewer only what the permission functions allow: never a decision on one\'s own request', () => {
    expect(actionsFor(policy, CALLERS.sam!, officer, forms)).toMatchObject({ cancel: true, revoke: false, cannotDecide: 'Waiting for a decision by Contoso Security Team.' });
    expect(actionsFor(policy, CALLERS.dave!, officer, forms).cannotDecide).toBe("You cannot decide: you are not an approver for rule 'security-privileged'.");
    expect(actionsFor(policy, CALLERS.sam!, officer, forms).decide).toBeUndefined();
    expect(actionsFor(policy, CALLERS.sara!, officer, forms)).toMatchObject({ decide: { target: 'request' }, cancel: false, revoke: false });
    expect(actionsFor(policy, CALLERS.dave!, officer, forms).decide).toBeUndefined();
  });

  it('a running grant: time left in words, Extend within the rule and Revoke for the requester', () => {
    const release = asked('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT2H', justification: 'release' }, 'r-release');
    const active = applied(release, { type: 'decide', by: OID.sam, decision: 'approve' }, { type: 'granted', assignmentName: 'a1', at: NOW });
    const summary = summarize(policy, active, new Date(NOW.getTime() + 30 * 60_000));
    expect(summary).toMatchObject({ status: 'Active', expiresAt: '2030-01-01T12:00:00.000Z', left: '1 hour 30 minutes left' });
    const dave = actionsFor(policy, CALLERS.dave!, active, forms);
    expect(dave.revoke).toBe(true);
    expect(dave.extend?.durations.map((d) => d.label)).toEqual(['15 minutes', '30 minutes', '1 hour', '2 hours', '4 hours', '8 hours']);
    expect(actionsFor(policy, CALLERS.sara!, active, forms)).toMatchObject({ revoke: true, cancel: false });
    expect(actionsFor(policy, CALLERS.sara!, active, forms).extend).toBeUndefined();
    const extending = applied(active, { type: 'requestExtension', by: OID.dave, durationMs: 3_600_000 });
    expect(summarize(policy, extending, NOW).progress).toBe('0 of 1 approvals of the extension');
    expect(actionsFor(policy, CALLERS.sam!, extending, forms).decide).toEqual({ target: 'extension', what: 'the extension' });
    expect(requestFacts(policy, extending).find((f) => f.title === 'Duration')?.value).toBe('2 hours, 1 hour more asked for');
  });

  it('names people and gives times as times, not object ids and ISO text', () => {
    const facts = requestFacts(policy, officer);
    expect(facts.find((f) => f.title === 'Requester')?.value).toBe('Sam Security');
    expect(facts.find((f) => f.title === 'Asked')).toEqual({ title: 'Asked', at: NOW.toISOString() });
    expect(facts.find((f) => f.title === 'Approvals')?.value).toBe('0 of 2');
  });
});

describe('words and templates', () => {
  it('durations and times in words', () => {
    expect(durationInWords(90 * 60_000)).toBe('1 hour 30 minutes');
    expect(durationInWords(86_400_000 + 3_600_000)).toBe('1 day 1 hour');
    expect(durationInWords(20_000)).toBe('less than a minute');
    expect(timeInWords(new Date('2030-01-01T09:05:00Z'))).toBe('1 Jan 2030, 09:05 UTC');
    expect(durationChoices(60_000, 3_600_000, 'PT30M').filter((c) => c.selected).map((c) => c.value)).toEqual(['PT30M']);
    expect(scopeLabel('/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM')).toBe('ContosoMHSM (Azure resource)');
  });

  it('escapes what people typed and shows bidi controls instead of obeying them', () => {
    const render = template<{ facts: unknown[] }>('{{> facts}}');
    const html = render({ facts: [{ title: 'Why', value: '<img src=x onerror=alert(1)> \u202Eevil' }, { title: 'Asked', at: '2030-01-01T10:00:00.000Z', note: '<b>' }] });
    expect(html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    expect(html).not.toMatch(/<img|<b>|\u202E/);
    expect(html).toContain('<time datetime="2030-01-01T10:00:00.000Z" title="Tue, 01 Jan 2030 10:00:00 GMT">1 Jan 2030, 10:00 UTC</time> (&lt;b&gt;)');
  });
});
