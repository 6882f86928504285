/**
 * A partitioned audit trail (docs/adr/0017-partitioned-ledger-with-anchored-chains.md): every ledger
 * partition keeps its own hash chain with its own head, and an anchor chain periodically records
 * each partition's head (seq and hash). Verification checks every chain on its own, that each
 * chain's stored head is its last record, and that every anchored head is still in its chain: a
 * truncated tail shows even when the truncating party also rewrote the partition's head row.
 */
import { chainAuditRecord, verifyAuditChain, type ChainedAuditRecord } from './audit';

/** The request id anchor records carry, so they read as what they are in an audit listing. */
export const ANCHOR_CHAIN = 'audit-anchor';
export const ANCHOR_ACTION = 'audit.anchored';

export interface AnchoredHead {
  readonly seq: number;
  readonly hash: string;
}

/** One chain as stored: its records in seq order and the record its head row points at. */
export interface StoredChain {
  readonly records: readonly ChainedAuditRecord[];
  readonly head: ChainedAuditRecord | undefined;
}

export interface PartitionedAudit {
  /** By chain name: each partition's chain (and a frozen chain migrated from the one-partition layout). */
  readonly chains: ReadonlyMap<string, StoredChain>;
  readonly anchors: StoredChain;
}

export type PartitionedVerification =
  | { readonly ok: true; readonly records: number; readonly chains: number; readonly anchors: number }
  | { readonly ok: false; readonly chain: string; readonly brokenAtSeq: number; readonly reason: string };

/** The heads an anchor records: only the chains that moved since the last anchor, so an idle ledger anchors nothing. */
export function headsToAnchor(current: ReadonlyMap<string, AnchoredHead>, lastAnchor: ChainedAuditRecord | undefined): Record<string, AnchoredHead> {
  const anchored = anchoredHeadsOf(lastAnchor);
  const moved: Record<string, AnchoredHead> = {};
  for (const [chain, head] of [...current].sort(([a], [b]) => a.localeCompare(b))) {
    if (anchored[chain]?.seq !== head.seq) moved[chain] = { seq: head.seq, hash: head.hash };
  }
  return moved;
}

/** The next anchor record: the heads recorded so far, with `moved` recorded over them. */
export function anchorRecord(lastAnchor: ChainedAuditRecord | undefined, moved: Readonly<Record<string, AnchoredHead>>, at: string): ChainedAuditRecord {
  const heads = { ...anchoredHeadsOf(lastAnchor), ...moved };
  return chainAuditRecord(lastAnchor, { at, actor: 'system', action: ANCHOR_ACTION, requestId: ANCHOR_CHAIN, reason: `Anchored ${Object.keys(moved).length} chain head(s)`, details: { heads } });
}

export function anchoredHeadsOf(anchor: ChainedAuditRecord | undefined): Record<string, AnchoredHead> {
  return ((anchor?.details as { heads?: Record<string, AnchoredHead> } | undefined)?.heads) ?? {};
}

function verifyStoredChain(name: string, chain: StoredChain): PartitionedVerification | undefined {
  const result = verifyAuditChain(chain.records);
  if (!result.ok) return { ok: false, chain: name, brokenAtSeq: result.brokenAtSeq, reason: result.reason };
  const last = chain.records[chain.records.length - 1];
  if (last?.hash !== chain.head?.hash) {
    return { ok: false, chain: name, brokenAtSeq: (last?.seq ?? 0) + 1, reason: `the chain ends at ${last?.seq ?? 0} but its head is at ${chain.head?.seq ?? 0} (records were removed from the end)` };
  }
  return undefined;
}

/** Every check a verifier makes; the first failure found, or the counts of what verified. */
export function verifyPartitionedAudit(audit: PartitionedAudit): PartitionedVerification {
  const anchorsBroken = verifyStoredChain(ANCHOR_CHAIN, audit.anchors);
  if (anchorsBroken) return anchorsBroken;
  let records = 0;
  for (const [name, chain] of audit.chains) {
    const broken = verifyStoredChain(name, chain);
    if (broken) return broken;
    records += chain.records.length;
  }
  for (const anchor of audit.anchors.records) {
    for (const [name, head] of Object.entries(anchoredHeadsOf(anchor))) {
      const stored = audit.chains.get(name)?.records[head.seq - 1];
      if (stored?.seq !== head.seq || stored.hash !== head.hash) {
        return { ok: false, chain: name, brokenAtSeq: head.seq, reason: `anchor ${anchor.seq} recorded record ${head.seq} of this chain, which is ${stored ? 'changed' : 'gone'} (the chain was truncated or rewritten)` };
      }
    }
  }
  return { ok: true, records, chains: audit.chains.size, anchors: audit.anchors.records.length };
}
