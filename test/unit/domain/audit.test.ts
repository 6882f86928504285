import { GENESIS_HASH, canonicalJson, chainAuditRecord, hashAuditRecord, verifyAuditChain, type ChainedAuditRecord } from '../../../shared/domain/audit';

function chain(n: number): ChainedAuditRecord[] {
  const out: ChainedAuditRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push(chainAuditRecord(out[i - 1], {
      at: new Date(Date.UTC(2030, 0, 1, 0, i)).toISOString(), actor: i % 2 ? 'sam' : 'system', action: 'transition', requestId: `req-${i}`,
      from: 'Pending', to: 'Approved', reason: `step ${i}`, ...(i === 2 ? { hsmRequestId: 'abc', details: { b: 1, a: [1, { z: 1, y: 2 }] } } : {}),
    }));
  }
  return out;
}

describe('audit hash chain', () => {
  it('canonical JSON sorts keys recursively and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"e":2,"f":1}]},"b":1}');
  });

  it('hashes are sha256 hex, independent of key order, chained from GENESIS', () => {
    const [first] = chain(1);
    expect(first!.prevHash).toBe(GENESIS_HASH);
    expect(first!.seq).toBe(1);
    expect(first!.hash).toMatch(/^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(first!).reverse()) as unknown as ChainedAuditRecord;
    expect(hashAuditRecord(GENESIS_HASH, reordered)).toBe(first!.hash);
    expect(hashAuditRecord('1'.repeat(64), first!)).not.toBe(first!.hash);
  });

  it('verifies an intact chain (and an empty one)', () => {
    const records = chain(6);
    expect(verifyAuditChain(records)).toEqual({ ok: true, count: 6, lastHash: records[5]!.hash });
    expect(verifyAuditChain([])).toEqual({ ok: true, count: 0, lastHash: GENESIS_HASH });
  });

  it('verifies a segment from a known checkpoint', () => {
    const records = chain(6);
    expect(verifyAuditChain(records.slice(3), { startAfter: { seq: 3, hash: records[2]!.hash } })).toMatchObject({ ok: true, count: 3 });
    expect(verifyAuditChain(records.slice(3), { startAfter: { seq: 3, hash: records[1]!.hash } })).toMatchObject({ ok: false, brokenAtSeq: 4 });
  });

  it.each([
    ['edited field', (r: ChainedAuditRecord[]) => { r[2] = { ...r[2]!, reason: 'nothing to see' }; }, 3, /edited/],
    ['edited details', (r: ChainedAuditRecord[]) => { r[2] = { ...r[2]!, details: { b: 2 } }; }, 3, /edited/],
    ['added field', (r: ChainedAuditRecord[]) => { r[1] = { ...r[1]!, hsmRequestId: 'x' }; }, 2, /edited/],
    ['edited and rehashed', (r: ChainedAuditRecord[]) => { const e = { ...r[2]!, actor: 'mallory' }; r[2] = { ...e, hash: hashAuditRecord(e.prevHash, e) }; }, 4, /prevHash/],
    ['deleted record', (r: ChainedAuditRecord[]) => { r.splice(2, 1); }, 3, /missing/],
    ['deleted and renumbered', (r: ChainedAuditRecord[]) => { r.splice(2, 1); for (let i = 2; i < r.length; i++) r[i] = { ...r[i]!, seq: i + 1 }; }, 3, /prevHash/],
    ['deleted first record', (r: ChainedAuditRecord[]) => { r.shift(); }, 1, /missing/],
    ['reordered', (r: ChainedAuditRecord[]) => { const t = r[1]!; r[1] = r[2]!; r[2] = t; }, 2, /missing/],
    ['reordered and renumbered', (r: ChainedAuditRecord[]) => { const t = r[1]!; r[1] = { ...r[2]!, seq: 2 }; r[2] = { ...t, seq: 3 }; }, 2, /prevHash|edited/],
    ['inserted', (r: ChainedAuditRecord[]) => { r.splice(3, 0, chainAuditRecord(r[2], { at: 'x', actor: 'mallory', action: 'grant', requestId: 'evil' })); }, 5, /out of order|repeated/],
    ['inserted and renumbered', (r: ChainedAuditRecord[]) => { r.splice(3, 0, chainAuditRecord(r[2], { at: 'x', actor: 'mallory', action: 'grant', requestId: 'evil' })); for (let i = 4; i < r.length; i++) r[i] = { ...r[i]!, seq: i + 1 }; }, 5, /prevHash/],
    ['duplicated', (r: ChainedAuditRecord[]) => { r.splice(3, 0, r[2]!); }, 4, /out of order|repeated/],
  ])('detects %s', (_name, tamper, brokenAtSeq, reason) => {
    const records = chain(6);
    tamper(records);
    const result = verifyAuditChain(records);
    expect(result).toMatchObject({ ok: false, brokenAtSeq });
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});
