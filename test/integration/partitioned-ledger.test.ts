import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { TableLedger } from '../../shared/adapters/storage/ledger';
import { migrateLedger } from '../../shared/adapters/storage/ledgerMigration';
import { ALL_PARTITIONS, PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { applyEvent, createRequest, evaluateRequest, openAccessKeyOf, verifyAuditChain, verifyPartitionedAudit, type AccessRequest, type EligibleRequest } from '../../shared/domain';
import type { LedgerPort } from '../../shared/services/ports';
import { caller } from '../helpers/workflow';

/** The partitioned ledger (ADR 0017) on Azurite: contention-free across grantees, tamper-evident, migrated from ADR 0005's layout. */
const POLICY = loadPolicyFile(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'));
const SCOPE = '/keys/app-signing-key';

let azurite: Azurite;
let table: TableClient;

beforeAll(async () => {
  azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
});
afterAll(() => azurite.close());
beforeEach(() => {
  table = TableClient.fromConnectionString(azurite.connectionString, `ledger${randomUUID().replace(/-/g, '').slice(0, 12)}`, { allowInsecureConnection: true });
});

const at = new Date('2026-11-23T09:00:00Z');

/** A Pending request as the workflow makes it, for `principalId` (the ledger does not judge who may hold what). */
function pending(principalId: string, scope = SCOPE): AccessRequest {
  const evaluation = evaluateRequest(POLICY, caller('sam'), { role: 'Crypto User', scope, duration: 'PT1H', justification: 'maintenance' }, at);
  if (!('rule' in evaluation)) throw new Error(JSON.stringify(evaluation));
  return { ...createRequest(POLICY, evaluation as EligibleRequest, { id: randomUUID(), requestedBy: caller('sam').objectId }, at), principalId };
}

const created = (request: AccessRequest) => [{ at: request.createdAt, actor: 'dave', action: 'request.created', requestId: request.id, to: request.status, reason: 'test' }];

async function submit(ledger: LedgerPort, request: AccessRequest, submissionKey?: string) {
  return ledger.create(request, created(request), [], { openAccessKey: openAccessKeyOf(request), ...(submissionKey ? { submissionKey } : {}) });
}

async function approve(ledger: LedgerPort, id: string): Promise<AccessRequest> {
  const stored = await ledger.get(id);
  const decided = applyEvent(stored!.request, { type: 'decide', by: caller('sara').objectId, decision: 'approve' }, at);
  if (!decided.ok) throw new Error(decided.detail);
  expect(await ledger.update(decided.request, stored!.etag, [{ at: at.toISOString(), actor: 'sam', action: 'request.approved', requestId: id, from: 'Pending', to: 'Approved' }])).toBe('updated');
  return decided.request;
}

const grantees = (n: number): string[] => Array.from({ length: n }, () => randomUUID());

async function rows(partitionKey: string, prefix: string): Promise<Array<{ rowKey: string; data: string; etag: string }>> {
  const found = [];
  for await (const e of table.listEntities<{ data: string }>({ queryOptions: { filter: `PartitionKey eq '${partitionKey}'` } })) if (e.rowKey!.startsWith(prefix)) found.push(e as { rowKey: string; data: string; etag: string });
  return found;
}

describe('a partitioned ledger', () => {
  it('stores concurrent changes of many grantees in many partitions, each change once, and the trail verifies', async () => {
    const ledger = new PartitionedLedger(table);
    const requests = grantees(24).map((principal) => pending(principal));
    expect((await Promise.all(requests.map((r) => submit(new PartitionedLedger(table), r)))).every((o) => o.outcome === 'created')).toBe(true);
    await Promise.all(requests.map((r) => approve(new PartitionedLedger(table), r.id)));
    const used = new Set<string>();
    for (const partition of ALL_PARTITIONS) if ((await rows(partition, 'request|')).length > 0) used.add(partition);
    expect(used.size).toBeGreaterThan(4);
    expect(await rows('ledger', 'audit-head')).toHaveLength(0);
    for (const r of requests) expect((await new PartitionedLedger(table).get(r.id))?.request.status).toBe('Approved');
    const audit = await ledger.audit();
    for (const r of requests) expect(audit.filter((x) => x.requestId === r.id).map((x) => x.action)).toEqual(['request.created', 'request.approved']);
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: true, records: 48 });
    expect((await ledger.list({ statuses: ['Approved'] })).items.length).toBe(24);
    expect((await ledger.list({ principalId: requests[3]!.principalId })).items.map((s) => s.request.id)).toEqual([requests[3]!.id]);
  });

  it('lets exactly one of two concurrent requests for the same access open it, and replays a submission key', async () => {
    const [principal] = grantees(1);
    const [a, b] = [pending(principal!), pending(principal!)];
    const outcomes = await Promise.all([submit(new PartitionedLedger(table), a), submit(new PartitionedLedger(table), b)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['created', 'duplicate']);

    const other = pending(principal!, '/keys/storage-cmk');
    expect(await submit(new PartitionedLedger(table), other, 'dave\nkey-1')).toEqual({ outcome: 'created' });
    const retry = { ...pending(principal!, '/keys/storage-cmk') };
    expect(await submit(new PartitionedLedger(table), retry, 'dave\nkey-1')).toEqual({ outcome: 'replayed', requestId: other.id });
    expect(await new PartitionedLedger(table).requestIdForSubmission('dave\nkey-1')).toBe(other.id);
    expect(await new PartitionedLedger(table).get(retry.id)).toBeUndefined();
  });

  it('anchors every moved chain head, and detects an edited record and a tail cut with its head row rewritten', async () => {
    const ledger = new PartitionedLedger(table);
    for (const principal of grantees(6)) await submit(ledger, pending(principal));
    const anchor = await ledger.anchor(at.toISOString());
    expect(Object.keys((anchor!.details as { heads: object }).heads).length).toBeGreaterThan(1);
    expect(await ledger.anchor(at.toISOString())).toBeUndefined();
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: true, anchors: 1 });

    const [victim] = [...(await ledger.auditTrail()).chains.keys()];
    const [last] = (await rows(victim!, 'audit|')).slice(-1);
    await table.updateEntity({ partitionKey: victim!, rowKey: last!.rowKey, data: last!.data.replace('"test"', '"forged"') }, 'Merge');
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: false, chain: victim, reason: expect.stringContaining('edited') });

    // Cut the last record and point the head row at the one before it: only the anchor still knows.
    const chain = (await ledger.auditTrail()).chains.get(victim!)!;
    await table.deleteEntity(victim!, last!.rowKey);
    const before = chain.records[chain.records.length - 2];
    if (before) await table.updateEntity({ partitionKey: victim!, rowKey: 'audit-head', seq: before.seq, hash: before.hash, data: JSON.stringify(before) }, 'Replace');
    else await table.deleteEntity(victim!, 'audit-head');
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: false, chain: victim, reason: expect.stringContaining('anchor 1') });
  });

  it('migrates a ledger stored in one partition: requests, claims, replays and marks carry over and the chain verifies', async () => {
    const legacy = new TableLedger(table);
    const [p1, p2] = grantees(2);
    const first = pending(p1!);
    expect(await submit(legacy, first, 'dave\nold-key')).toEqual({ outcome: 'created' });
    await approve(legacy, first.id);
    await submit(legacy, pending(p2!));
    expect(await legacy.appendAuditOnce('run-1', [{ at: at.toISOString(), actor: 'system', action: 'reconcile.completed', requestId: 'run-1' }])).toBe('appended');
    expect(verifyAuditChain(await legacy.audit())).toMatchObject({ ok: true, count: 4 });

    const report = await migrateLedger(table, at);
    expect(report).toMatchObject({ requests: 2, indexRows: 3 });
    expect(await migrateLedger(table, at)).toMatchObject({ requests: 0, indexRows: 0 });

    const ledger = new PartitionedLedger(table);
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: true, records: 4, anchors: 1 });
    expect((await ledger.get(first.id))?.request.status).toBe('Approved');
    expect(await ledger.requestIdForSubmission('dave\nold-key')).toBe(first.id);
    expect(await submit(ledger, pending(p1!))).toMatchObject({ outcome: 'duplicate', open: { id: first.id } });
    expect(await ledger.appendAuditOnce('run-1', [{ at: at.toISOString(), actor: 'system', action: 'reconcile.completed', requestId: 'run-1' }])).toBe('exists');
    expect(await rows('ledger', 'request|')).toHaveLength(0);

    await submit(ledger, pending(grantees(1)[0]!));
    await ledger.anchor(new Date(at.getTime() + 60_000).toISOString());
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: true, records: 5, anchors: 2 });

    // The frozen chain's tail cut, its head row rewritten to match: the first anchor recorded it.
    const old = await rows('ledger', 'audit|');
    await table.deleteEntity('ledger', old[old.length - 1]!.rowKey);
    const kept = JSON.parse(old[old.length - 2]!.data) as { seq: number };
    await table.updateEntity({ partitionKey: 'ledger', rowKey: 'audit-head', seq: kept.seq, data: old[old.length - 2]!.data }, 'Replace');
    expect(verifyPartitionedAudit(await ledger.auditTrail())).toMatchObject({ ok: false, chain: 'ledger', brokenAtSeq: 4 });
  });
});
