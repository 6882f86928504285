/**
 * Audit records and their hash chain: each record's hash covers the previous record's hash, so an
 * edited, deleted, reordered or inserted record breaks verification.
 */
import { createHash } from 'node:crypto';

export interface AuditRecord {
  /** 1, 2, 3... without gaps. */
  readonly seq: number;
  /** ISO 8601 UTC. */
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly requestId: string;
  readonly from?: string;
  readonly to?: string;
  readonly reason?: string;
  /** The HSM's x-ms-request-id of the data-plane call, when there was one. */
  readonly hsmRequestId?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface ChainedAuditRecord extends AuditRecord {
  readonly prevHash: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted recursively and undefined members dropped. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** sha256 (hex) over the canonical JSON of the record (without prevHash/hash) and the previous hash. */
export function hashAuditRecord(prevHash: string, record: AuditRecord): string {
  const { prevHash: _p, hash: _h, ...content } = record as ChainedAuditRecord;
  return createHash('sha256').update(canonicalJson({ prevHash, record: content })).digest('hex');
}

/** The next record of a chain, given the last one (or none for the first record). */
export function chainAuditRecord(previous: ChainedAuditRecord | undefined, record: Omit<AuditRecord, 'seq'>): ChainedAuditRecord {
  const seq = previous ? previous.seq + 1 : 1;
  const prevHash = previous ? previous.hash : GENESIS_HASH;
  const full: AuditRecord = { ...record, seq };
  return { ...full, prevHash, hash: hashAuditRecord(prevHash, full) };
}

export type ChainVerification =
  | { readonly ok: true; readonly count: number; readonly lastHash: string }
  | { readonly ok: false; readonly brokenAtSeq: number; readonly reason: string };

export interface VerifyOptions {
  /** Verify a segment: the hash of the record before the first one given, and its seq. */
  readonly startAfter?: { readonly seq: number; readonly hash: string };
}

/** Verifies records in chain order (by seq as stored, from the first record unless startAfter is given). */
export function verifyAuditChain(records: readonly ChainedAuditRecord[], options: VerifyOptions = {}): ChainVerification {
  let expectedSeq = (options.startAfter?.seq ?? 0) + 1;
  let prevHash = options.startAfter?.hash ?? GENESIS_HASH;
  for (const record of records) {
    if (record.seq !== expectedSeq) {
      const reason = record.seq < expectedSeq ? `seq ${record.seq} is out of order or repeated (expected ${expectedSeq})` : `record ${expectedSeq} is missing (found ${record.seq})`;
      return { ok: false, brokenAtSeq: expectedSeq, reason };
    }
    if (record.prevHash !== prevHash) return { ok: false, brokenAtSeq: record.seq, reason: 'prevHash does not match the previous record (a record was deleted, inserted or reordered)' };
    if (hashAuditRecord(prevHash, record) !== record.hash) return { ok: false, brokenAtSeq: record.seq, reason: 'hash does not match the content (the record was edited)' };
    prevHash = record.hash;
    expectedSeq += 1;
  }
  return { ok: true, count: records.length, lastHash: prevHash };
}
