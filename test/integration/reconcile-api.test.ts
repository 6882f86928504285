import { randomUUID } from 'node:crypto';
import { createAppContext } from '../../shared/app';
import { NOTIFICATION_MARKS_TABLE } from '../../shared/adapters/notify';
import { TableDriftAlerts, TableNotificationMarks } from '../../shared/adapters/notify/marks';
import { driftNotifier } from '../../shared/services/reconciliationNotices';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';
import { PERSONAS } from '../../dev/personas';
import { nextDriftAlert, verifyPartitionedAudit, type DriftItem } from '../../shared/domain';
import { readCard } from '../helpers/cards';
import { sleep } from '../helpers/poll';
import { useEnforcingDriftedStack } from '../helpers/reconcile';
import type { TestStack } from '../helpers/stack';
import { SILENT_LOG } from '../helpers/workflow';

/**
 * The seed's acceptance on the `npm start` stack started with `--seed drifted` and the Contoso
 * policy in enforce mode: plan reports exactly the three drift items, apply repairs them, a second
 * plan is empty; the reports are for administrators and auditors only.
 */
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const CRYPTO_AUDITOR = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';
const APP_VM = PERSONAS['app-vm'].oid;
const DAVE = PERSONAS.dave.oid;

const current = useEnforcingDriftedStack();
let stack: TestStack;
beforeAll(() => {
  stack = current();
});

interface Report {
  run: { id: string; status: string; mode: string; counts: Record<string, number>; actions: Array<{ action: string; kind: string; hsmRequestId?: string }>; hsmCalls: number; keyCount: number };
  items: DriftItem[];
}

/** The drift messages so far: Teams cards (title, facts, link) and emails (subject, text), oldest first. */
function driftMessages(): { cards: Array<{ title: string; facts: Record<string, string>; url?: string }>; mails: Array<{ to: string[]; subject: string; text: string; run: string }> } {
  const cards = stack.stack.teamsSink.cards().map((card) => readCard(card.payload.attachments[0]!.content))
    .filter((card) => card.title.startsWith('Drift found'))
    .map((card) => ({ title: card.title, facts: card.facts, ...(card.actions[0] ? { url: card.actions[0].url } : {}) }));
  const mails = stack.stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-kind'] === 'drift-found')
    .map((m) => ({ to: m.to, subject: m.subject, text: m.text, run: m.headers['x-hsm-governor-request'] ?? '' }));
  return { cards, mails };
}

const DRIFT_LINES = [
  'forbidden-principal: Managed HSM Crypto User for Dave DevOps on /keys/app-signing-key',
  'missing: Managed HSM Crypto User for app-vm (managed identity) on /keys/app-signing-key',
  'unexpected: Managed HSM Crypto Auditor for app-vm (managed identity) on /',
];

function assignments(): Array<{ name: string; scope: string; roleId: string; principalId: string }> {
  return stack.stack.hsm.assignments().map((a) => ({ name: a.name, scope: a.properties.scope, roleId: a.properties.roleDefinitionId.split('/').pop() as string, principalId: a.properties.principalId }));
}

describe('drift reconciliation over HTTP', () => {
  it('refuses callers who are not HSM administrators, and bad input, changing nothing', async () => {
    expect((await stack.api('/api/reconcile', { method: 'POST' })).status).toBe(401);
    const dave = await stack.api('/api/reconcile', { method: 'POST', persona: 'dave' });
    expect(dave.status).toBe(403);
    expect(((await dave.json()) as { code: string }).code).toBe('not-an-administrator');
    const alice = await stack.api('/api/reconcile?mode=apply', { method: 'POST', persona: 'alice' });
    expect(alice.status).toBe(403);
    const bad = await stack.api('/api/reconcile?mode=fix', { method: 'POST', persona: 'sam' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect((await stack.api('/api/reconcile/reports/latest', { persona: 'alice' })).status).toBe(404);
    expect((await stack.api('/api/reports/access', { persona: 'alice' })).status).toBe(404);
  });

  it("plans exactly the seed's drift, applies the repair, and a second plan is empty", async () => {
    const before = assignments();
    const plan = await stack.api('/api/reconcile', { method: 'POST', persona: 'sam' });
    expect(plan.status).toBe(200);
    const planned = (await plan.json()) as Report;
    expect(planned.run).toMatchObject({ status: 'completed', mode: 'plan', keyCount: 3 });
    expect(planned.items.map((i) => [i.kind, i.principalId, i.roleId, i.scope]).sort()).toEqual([
      ['forbidden-principal', DAVE, CRYPTO_USER, '/keys/app-signing-key'],
      ['missing', APP_VM, CRYPTO_USER, '/keys/app-signing-key'],
      ['unexpected', APP_VM, CRYPTO_AUDITOR, '/'],
    ]);
    // Role definitions, `/`, one keys page and one list per key scope, plus the first 401 challenge of
    // each of the two clients (RBAC and keys): nothing more.
    expect(planned.run.hsmCalls).toBe(1 + 1 + 1 + 3 + 2);
    expect(assignments()).toEqual(before);

    // The security team (Administrator at / in the policy) hears of it once, on each of its channels.
    const told = driftMessages();
    expect(told.cards).toHaveLength(1);
    expect(told.mails).toHaveLength(1);
    const [card] = told.cards;
    expect(card.title).toBe('Drift found: 3 items on contoso-hsm');
    expect(Object.entries(card.facts).filter(([title]) => title.startsWith('Item ')).map(([, line]) => line).sort()).toEqual(DRIFT_LINES);
    expect(card.facts).toMatchObject({ 'forbidden-principal': '1', missing: '1', unexpected: '1', HSM: 'contoso-hsm' });
    expect(card.url).toBe(`${stack.stack.appSettings.PUBLIC_BASE_URL}/api/reconcile/reports/${planned.run.id}`);
    const [mail] = told.mails;
    expect(mail).toMatchObject({ to: ['security-team@contoso.example'], subject: '[HSM access] 3 items on contoso-hsm: drift found', run: planned.run.id });
    for (const line of DRIFT_LINES) expect(mail.text).toContain(line);
    expect(mail.text).toContain(`Open report: ${card.url}`);
    const report = await fetch(card.url!, { headers: { accept: 'text/html', authorization: `Bearer ${await stack.tokenFor('sam')}` } });
    expect(await report.text()).toContain(planned.run.id);

    const apply = await stack.api('/api/reconcile?mode=apply', { method: 'POST', persona: 'sam' });
    expect(apply.status).toBe(200);
    const applied = (await apply.json()) as Report;
    expect(applied.run.actions.map((a) => [a.action, a.kind])).toEqual([['created', 'missing'], ['removed', 'unexpected'], ['removed', 'forbidden-principal']]);
    const after = assignments();
    expect(after.filter((a) => a.principalId === APP_VM).map((a) => [a.roleId, a.scope])).toEqual([[CRYPTO_USER, '/keys/app-signing-key']]);
    expect(after.filter((a) => a.principalId === DAVE)).toEqual([]);
    // Protected (break-glass) and the service's own assignment are where they were.
    for (const untouched of [PERSONAS['break-glass'].oid, PERSONAS['hsm-governor'].oid]) {
      expect(after.filter((a) => a.principalId === untouched)).toEqual(before.filter((a) => a.principalId === untouched));
    }

    // The apply's run found the same drift: one message more, saying what it repaired.
    const afterApply = driftMessages();
    expect(afterApply.cards).toHaveLength(2);
    expect(afterApply.mails.map((m) => m.run)).toEqual([planned.run.id, applied.run.id]);
    expect(afterApply.mails[1].text).toContain('Apply: 1 created, 2 removed, 0 skipped, 0 failed.');

    const again = (await (await stack.api('/api/reconcile', { method: 'POST', persona: 'sam' })).json()) as Report;
    expect(again.items).toEqual([]);
    // A clean HSM sends nothing.
    await sleep(500);
    expect(driftMessages().cards).toHaveLength(2);
    expect(driftMessages().mails).toHaveLength(2);

    const records = await stack.ledger().audit();
    expect(verifyPartitionedAudit(await stack.ledger().auditTrail())).toMatchObject({ ok: true });
    const repairs = records.filter((r) => r.requestId === applied.run.id && /^reconcile\.(created|removed)$/.test(r.action));
    expect(repairs).toHaveLength(3);
    for (const record of repairs) expect(record.hsmRequestId).toMatch(/^[0-9a-f-]{36}$/);
  }, 60_000);

  it('a drift alert whose sender died after storing what it would tell is sent by the close that follows, once', async () => {
    const context = createAppContext({ ...stack.stack.appSettings });
    // An HSM name of its own: what this test stores is nobody else's state.
    const run = { id: `crashed-${randomUUID()}`, hsm: `crash-${randomUUID().slice(0, 8)}`, mode: 'plan', status: 'completed', actions: [], startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() } as unknown as ReconcileRun;
    const items: DriftItem[] = [{ id: 'd1', kind: 'unexpected', principalId: APP_VM, role: 'Managed HSM Crypto Auditor', roleId: CRYPTO_AUDITOR, scope: '/', assignmentName: 'a1', reason: 'test', action: 'remove' } as DriftItem];
    const marks = new TableNotificationMarks(context.tableClient(NOTIFICATION_MARKS_TABLE));
    // A claim is taken over only when unconfirmed and old enough, and never once confirmed.
    const key = `test|${randomUUID()}`;
    expect([await marks.claim(key), await marks.claim(key), await marks.claim(key, 60_000), await marks.claim(key, 0)]).toEqual([true, false, false, true]);
    await marks.confirm(key);
    expect(await marks.claim(key, 0)).toBe(false);
    // The process that closed the run stored the new fingerprint, then died before sending.
    const alerts = new TableDriftAlerts(context.tableClient(NOTIFICATION_MARKS_TABLE));
    const { record } = nextDriftAlert(undefined, run, items, new Date());
    expect(await alerts.write(run.hsm, record!, undefined)).toBe(true);
    expect(await alerts.write(run.hsm, record!, undefined)).toBe(false);
    const notify = driftNotifier({ policy: context.policy, notifications: context.notifications(SILENT_LOG), alerts, clock: { now: () => new Date() }, reportLink: () => undefined });
    const cardsBefore = driftMessages().cards.length;
    const sent = () => ({ mails: driftMessages().mails.filter((m) => m.run === run.id).length, cards: driftMessages().cards.length - cardsBefore });
    await notify(run, items);
    expect(sent()).toEqual({ mails: 1, cards: 1 });
    await notify(run, items);
    await notify({ ...run, id: `${run.id}-again` } as ReconcileRun, [...items]);
    expect(sent()).toEqual({ mails: 1, cards: 1 });
  });

  it('shows reports to auditors and administrators as JSON and HTML, and to nobody else', async () => {
    const latest = await stack.api('/api/reconcile/reports/latest', { persona: 'alice' });
    expect(latest.status).toBe(200);
    expect(((await latest.json()) as Report).items).toEqual([]);
    expect((await stack.api('/api/reconcile/reports/latest', { persona: 'dave' })).status).toBe(403);
    expect((await stack.api('/api/reconcile/reports/..%2F..', { persona: 'alice' })).status).toBe(400);
    expect((await stack.api('/api/reconcile/reports/20990101-nope', { persona: 'alice' })).status).toBe(404);
    const page = await stack.api('/api/reconcile/reports/latest', { persona: 'sam', headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<h1>Drift report<\/h1>/);

    const access = await stack.api('/api/reports/access?key=app-signing-key', { persona: 'alice' });
    expect(access.status).toBe(200);
    const body = (await access.json()) as { keys: Array<{ key: string; access: Array<{ principal?: string; role: string; assignedAt: string; basis: string; dataActions: string[] }> }> };
    expect(body.keys.map((k) => k.key)).toEqual(['app-signing-key']);
    const vm = body.keys[0].access.find((a) => a.principal === 'app-vm');
    expect(vm).toMatchObject({ role: 'Managed HSM Crypto User', assignedAt: '/keys/app-signing-key', basis: 'standing' });
    expect(vm?.dataActions).toContain('Microsoft.KeyVault/managedHsm/keys/sign/action');
    expect(body.keys[0].access.find((a) => a.principal === 'security-team')).toMatchObject({ assignedAt: '/', basis: 'standing' });
    expect((await stack.api('/api/reports/access', { persona: 'dave' })).status).toBe(403);
    expect((await stack.api('/api/reports/access?format=html', { persona: 'alice' })).headers.get('content-type')).toMatch(/^text\/html/);

    const keys = await stack.api('/api/reports/keys?days=30', { persona: 'alice' });
    expect(keys.status).toBe(200);
    const keyReport = (await keys.json()) as { withoutExpiry: string[]; expiringWithinDays: number; expiringSoon: unknown[]; notRotated: unknown[] };
    // The Contoso seed's keys were created just now and carry no expiry.
    expect(keyReport).toMatchObject({ expiringWithinDays: 30, withoutExpiry: ['app-signing-key', 'release-signing-key', 'storage-cmk'], expiringSoon: [], notRotated: [] });
    expect((await stack.api('/api/reports/keys?days=-1', { persona: 'alice' })).status).toBe(400);
  });
});
