import { chainAuditRecord, type ChainedAuditRecord } from '../../../shared/domain/audit';
import { anchorRecord, headsToAnchor, verifyPartitionedAudit, type PartitionedAudit, type StoredChain } from '../../../shared/domain/auditAnchors';

function records(chain: string, n: number, from = 0): ChainedAuditRecord[] {
  const out: ChainedAuditRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push(chainAuditRecord(out[i - 1], { at: new Date(Date.UTC(2030, 0, 1, 0, from + i)).toISOString(), actor: 'sam', action: 'request.created', requestId: `${chain}-req-${i}`, reason: `step ${i}` }));
  }
  return out;
}

const stored = (list: readonly ChainedAuditRecord[]): StoredChain => ({ records: list, head: list[list.length - 1] });

/** Two partitions, anchored after their first three records, then each one record further. */
function trail(): { chains: Map<string, ChainedAuditRecord[]>; anchors: ChainedAuditRecord[] } {
  const chains = new Map([['ledger-00', records('a', 4)], ['ledger-01', records('b', 4)]]);
  const heads = (upTo: number) => new Map([...chains].map(([name, list]) => [name, list[upTo - 1]!]));
  const first = anchorRecord(undefined, headsToAnchor(heads(3), undefined), '2030-01-01T01:00:00.000Z');
  const second = anchorRecord(first, headsToAnchor(heads(4), first), '2030-01-01T02:00:00.000Z');
  return { chains, anchors: [first, second] };
}

function audit(chains: Map<string, ChainedAuditRecord[]>, anchors: ChainedAuditRecord[], heads: Record<string, ChainedAuditRecord | undefined> = {}): PartitionedAudit {
  const stores = new Map([...chains].map(([name, list]) => [name, name in heads ? { records: list, head: heads[name] } : stored(list)]));
  return { chains: stores, anchors: stored(anchors) };
}

describe('partitioned audit chains anchored into one chain', () => {
  it('verifies an intact trail and counts what it checked', () => {
    const { chains, anchors } = trail();
    expect(verifyPartitionedAudit(audit(chains, anchors))).toEqual({ ok: true, records: 8, chains: 2, anchors: 2 });
  });

  it('an anchor records only the chains that moved, and carries every head recorded so far', () => {
    const { chains, anchors } = trail();
    const current = new Map([...chains].map(([name, list]) => [name, list[3]!]));
    expect(headsToAnchor(current, anchors[1])).toEqual({});
    const next = new Map(current).set('ledger-01', chainAuditRecord(chains.get('ledger-01')![3], { at: '2030-01-02T00:00:00.000Z', actor: 'sam', action: 'x', requestId: 'r' }));
    const moved = headsToAnchor(next, anchors[1]);
    expect(Object.keys(moved)).toEqual(['ledger-01']);
    const third = anchorRecord(anchors[1], moved, '2030-01-02T01:00:00.000Z');
    expect(Object.keys((third.details as { heads: object }).heads).sort()).toEqual(['ledger-00', 'ledger-01']);
  });

  it('detects an edited record', () => {
    const { chains, anchors } = trail();
    const list = chains.get('ledger-01')!;
    list[1] = { ...list[1]!, reason: 'forged' };
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-01', brokenAtSeq: 2 });
  });

  it('detects a deleted record', () => {
    const { chains, anchors } = trail();
    chains.get('ledger-00')!.splice(1, 1);
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-00', brokenAtSeq: 2 });
  });

  it('detects an inserted record, even one chained and numbered to fit', () => {
    const { chains, anchors } = trail();
    const list = chains.get('ledger-00')!;
    const forged = chainAuditRecord(list[1], { at: list[1]!.at, actor: 'mallory', action: 'request.approved', requestId: 'a-req-1' });
    list.splice(2, 0, forged);
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-00', brokenAtSeq: 4, reason: expect.stringContaining('out of order or repeated') });
  });

  it('detects reordered records', () => {
    const { chains, anchors } = trail();
    const list = chains.get('ledger-01')!;
    [list[1], list[2]] = [list[2]!, list[1]!];
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-01' });
  });

  it('detects a truncated tail through the head row', () => {
    const { chains, anchors } = trail();
    const list = chains.get('ledger-00')!;
    const head = list[3];
    list.pop();
    expect(verifyPartitionedAudit(audit(chains, anchors, { 'ledger-00': head }))).toMatchObject({ ok: false, chain: 'ledger-00', brokenAtSeq: 4 });
  });

  it('detects a truncated tail when the head row was rewritten to match, through the anchors', () => {
    const { chains, anchors } = trail();
    chains.get('ledger-00')!.splice(2);
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-00', brokenAtSeq: 3, reason: expect.stringContaining('gone') });
  });

  it('detects a chain rewritten from an anchored point on', () => {
    const { chains, anchors } = trail();
    const list = chains.get('ledger-01')!;
    const rewritten = [...list.slice(0, 2)];
    for (let i = 2; i < 4; i++) rewritten.push(chainAuditRecord(rewritten[i - 1], { at: list[i]!.at, actor: 'mallory', action: 'request.created', requestId: `b-req-${i}` }));
    chains.set('ledger-01', rewritten);
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false, chain: 'ledger-01', brokenAtSeq: 3, reason: expect.stringContaining('changed') });
  });

  it('detects a tampered or truncated anchor chain', () => {
    const { chains, anchors } = trail();
    expect(verifyPartitionedAudit(audit(chains, [anchors[0]!], {}))).toMatchObject({ ok: true });
    expect(verifyPartitionedAudit({ chains: audit(chains, anchors).chains, anchors: { records: [anchors[0]!], head: anchors[1] } })).toMatchObject({ ok: false, chain: 'audit-anchor', brokenAtSeq: 2 });
    const edited = [anchors[0]!, { ...anchors[1]!, details: { heads: {} } }];
    expect(verifyPartitionedAudit(audit(chains, edited))).toMatchObject({ ok: false, chain: 'audit-anchor', brokenAtSeq: 2 });
  });

  it('detects a record moved from one chain to another', () => {
    const { chains, anchors } = trail();
    const moved = chains.get('ledger-00')!.pop()!;
    chains.get('ledger-01')!.push(moved);
    expect(verifyPartitionedAudit(audit(chains, anchors))).toMatchObject({ ok: false });
  });
});
