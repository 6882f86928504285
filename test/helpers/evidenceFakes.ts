import type { AuditBlobReader, BlobCheckpoint, EvidenceReactions, EvidenceRow, EvidenceStore } from '../../shared/services/auditIngestion';
import type { AccessRequest, UseRecord } from '../../shared/domain';

/** Blobs as growing byte arrays. */
export class MemoryBlobs implements AuditBlobReader {
  readonly blobs = new Map<string, Buffer>();
  append(blob: string, text: string): void {
    this.blobs.set(blob, Buffer.concat([this.blobs.get(blob) ?? Buffer.alloc(0), Buffer.from(text, 'utf8')]));
  }
  async readFrom(blob: string, offset: number): Promise<Uint8Array> {
    return (this.blobs.get(blob) ?? Buffer.alloc(0)).subarray(offset);
  }
}

/** Rows keyed by (blob, offset) and checkpoints with versions, as the table adapter keeps them. */
export class MemoryEvidenceStore implements EvidenceStore {
  readonly stored = new Map<string, EvidenceRow>();
  readonly checkpoints = new Map<string, { offset: number; version: number }>();
  async checkpoint(blob: string): Promise<BlobCheckpoint> {
    const found = this.checkpoints.get(blob);
    return found ? { offset: found.offset, etag: String(found.version) } : { offset: 0 };
  }
  async save(rows: readonly EvidenceRow[]): Promise<void> {
    for (const row of rows) this.stored.set(`${row.blob}|${row.offset}`, row);
  }
  async advance(blob: string, offset: number, expected: BlobCheckpoint): Promise<boolean> {
    const found = this.checkpoints.get(blob);
    if ((found ? String(found.version) : undefined) !== expected.etag) return false;
    this.checkpoints.set(blob, { offset, version: (found?.version ?? 0) + 1 });
    return true;
  }
  async uses(grantId?: string): Promise<UseRecord[]> {
    return [...this.stored.values()].filter((r) => r.type === 'use').flatMap((r) => (r.grantIds ?? []).map((id) => ({ grantId: id, operation: r.operation, key: r.key ?? '', time: r.time }))).filter((u) => !grantId || u.grantId === grantId);
  }
  async refusalCount(principalId: string, key: string): Promise<number> {
    return [...this.stored.values()].filter((r) => r.type === 'refused' && r.principalId === principalId && r.key === key).length;
  }
  async rows(type: EvidenceRow['type']): Promise<EvidenceRow[]> {
    return [...this.stored.values()].filter((r) => r.type === type);
  }
}

/** Records each reaction once per key, as the ledger's marks and the notifications' once-keys do. */
export class RecordingReactions implements EvidenceReactions {
  readonly calls: Array<{ what: string; onceKey: string; detail: unknown }> = [];
  private readonly seen = new Set<string>();
  private once(what: string, onceKey: string, detail: unknown): void {
    if (this.seen.has(onceKey)) return;
    this.seen.add(onceKey);
    this.calls.push({ what, onceKey, detail });
  }
  async assignmentChanged(row: EvidenceRow, onceKey: string): Promise<void> {
    this.once('assignment-change', onceKey, row);
  }
  async usedOutsideAnyGrant(row: EvidenceRow, onceKey: string): Promise<void> {
    this.once('outside-any-grant', onceKey, row);
  }
  async persistentRefusals(principalId: string, key: string, count: number, onceKey: string): Promise<void> {
    this.once('persistent-refusals', onceKey, { principalId, key, count });
  }
}

export function grant(overrides: Partial<AccessRequest> & Pick<AccessRequest, 'id'>): AccessRequest {
  return {
    hsm: 'contoso-hsm', status: 'Active', role: 'Managed HSM Crypto User', roleId: '21dbd100-6940-42c2-9190-5d6cb909625b', scope: '/keys/release-signing-key',
    principalId: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e', requestedBy: 'dave', duration: 'PT8H', durationMs: 8 * 3_600_000, justification: 'release', ruleId: 'release-signing',
    approvalsRequired: 1, createdAt: '2030-01-01T09:00:00.000Z', pendingUntil: '2030-01-02T09:00:00.000Z', decisions: [], grantedAt: '2030-01-01T10:00:00.000Z',
    expiresAt: '2030-01-01T18:00:00.000Z', extensions: [], totalDurationMs: 8 * 3_600_000, totalDuration: 'PT8H', history: [],
    ...overrides,
  } as AccessRequest;
}
