/**
 * Reads the HSM's AuditEvent blobs as they grow and turns each record into evidence: uses per
 * grant, refused attempts, role-assignment changes made outside the service, use outside any grant.
 *
 * Crash safety: a blob's checkpoint is the byte offset past the last complete line handled. Each
 * finding is stored under (blob, line offset), so a redo after a crash overwrites the same rows
 * (counted once); reactions are keyed the same way (audit marks, notification keys); only then does
 * the checkpoint move, with If-Match, so two instances never both move it.
 */
import {
  completeLines,
  findingFor,
  parseAuditBlobName,
  parseAuditLine,
  PERSISTENT_REFUSALS,
  type AccessRequest,
  type EvidenceFinding,
  type HsmAuditRecord,
  type StandingAssignment,
  type UseRecord,
} from '../domain';
import type { ServiceLog } from './ports';

export interface AuditBlobReader {
  /** The blob's bytes from `offset` to its current end (empty when nothing was appended). */
  readFrom(blob: string, offset: number): Promise<Uint8Array>;
}

export interface BlobCheckpoint {
  readonly offset: number;
  readonly etag?: string;
}

/** One stored finding, named by where its line starts. */
export interface EvidenceRow {
  readonly blob: string;
  readonly offset: number;
  readonly type: 'use' | 'refused' | 'outside-any-grant' | 'assignment-change';
  readonly time: string;
  readonly principalId: string;
  readonly operation: string;
  readonly key?: string;
  readonly scope?: string;
  readonly grantIds?: readonly string[];
  readonly status: number;
  readonly correlationId: string;
}

export interface EvidenceStore {
  checkpoint(blob: string): Promise<BlobCheckpoint>;
  /** Upserts: storing a row again (a redo) leaves one row. */
  save(rows: readonly EvidenceRow[]): Promise<void>;
  /** Moves the checkpoint if it is still `expected`; false when another instance moved it first. */
  advance(blob: string, offset: number, expected: BlobCheckpoint): Promise<boolean>;
  uses(grantId?: string): Promise<UseRecord[]>;
  refusalCount(principalId: string, key: string): Promise<number>;
  rows(type: EvidenceRow['type']): Promise<EvidenceRow[]>;
}

/** What ingestion sets off beyond storing: each call is keyed so that a redo does nothing twice. */
export interface EvidenceReactions {
  /**
   * What our records do not explain, role assignments changed outside the service and keys used
   * outside any grant (one call per piece read, before they are told): reconcile the HSM now. Returns
   * the run, when one started or already covers them; throws when a run for an assignment change
   * cannot be started yet, so that the piece is read again (and the run started) later.
   */
  reconcileNow?(unexplained: readonly EvidenceRow[]): Promise<string | undefined>;
  /** A role assignment changed outside the service: into the trail and the events, and the security team told. */
  assignmentChanged(row: EvidenceRow, onceKey: string, runId?: string): Promise<void>;
  /** A key used with no grant or standing access behind it. */
  usedOutsideAnyGrant(row: EvidenceRow, onceKey: string, runId?: string): Promise<void>;
  /** A principal that keeps being refused on a key. */
  persistentRefusals(principalId: string, key: string, count: number, onceKey: string): Promise<void>;
}

export interface IngestionContext {
  grants(): Promise<AccessRequest[]>;
  standing: readonly StandingAssignment[];
  hsm: string;
  serviceObjectId: string;
}

export interface IngestionDeps {
  reader: AuditBlobReader;
  store: EvidenceStore;
  reactions: EvidenceReactions;
  context: IngestionContext;
  log: ServiceLog;
  /** Bytes read per step, so a large blob is handled in bounded pieces. */
  maxChunkBytes?: number;
}

export interface IngestOutcome {
  readonly records: number;
  readonly refusedLines: number;
  readonly offset: number;
  readonly moved: boolean;
}

const DEFAULT_CHUNK = 4 * 1024 * 1024;

function rowFor(blob: string, offset: number, finding: EvidenceFinding): EvidenceRow | undefined {
  if (finding.type === 'ignored') return undefined;
  const record: HsmAuditRecord = finding.record;
  const base = {
    blob, offset, time: record.time, principalId: record.principalId ?? '', operation: record.operationName, status: record.httpStatusCode, correlationId: record.correlationId,
    ...(record.keyName ? { key: record.keyName } : {}), ...(record.scope ? { scope: record.scope } : {}),
  };
  if (finding.type === 'use') {
    if (finding.attribution.basis === 'grant') return { ...base, type: 'use', grantIds: finding.attribution.grantIds };
    return finding.attribution.basis === 'standing' ? undefined : { ...base, type: 'outside-any-grant' };
  }
  return { ...base, type: finding.type };
}

export class AuditIngestionService {
  private readonly chunk: number;

  constructor(private readonly deps: IngestionDeps) {
    this.chunk = deps.maxChunkBytes ?? DEFAULT_CHUNK;
  }

  /** Reads `blob` from its checkpoint to its end. Names outside the AuditEvent layout are left alone. */
  async ingest(blob: string): Promise<IngestOutcome> {
    if (!parseAuditBlobName(blob)) {
      this.deps.log.warn(`audit ingestion: ${blob} is not an AuditEvent blob name; ignored`);
      return { records: 0, refusedLines: 0, offset: 0, moved: false };
    }
    let records = 0;
    let refusedLines = 0;
    for (;;) {
      const checkpoint = await this.deps.store.checkpoint(blob);
      const bytes = await this.deps.reader.readFrom(blob, checkpoint.offset);
      const windowed = completeLines(bytes.subarray(0, Math.min(bytes.length, this.chunk)), checkpoint.offset);
      // A single line longer than the window is read whole rather than never.
      const { lines, consumed } = windowed.consumed === 0 && bytes.length > this.chunk ? completeLines(bytes, checkpoint.offset) : windowed;
      if (consumed === 0) return { records, refusedLines, offset: checkpoint.offset, moved: records > 0 };
      const grants = await this.deps.context.grants();
      const rows: EvidenceRow[] = [];
      for (const line of lines) {
        const parsed = parseAuditLine(line.text);
        if ('refused' in parsed) {
          refusedLines += 1;
          this.deps.log.warn(`audit ingestion: ${blob} at ${line.offset}: ${parsed.refused}`);
          continue;
        }
        records += 1;
        const row = rowFor(blob, line.offset, findingFor(parsed.record, { ...this.deps.context, grants }));
        if (row) rows.push(row);
      }
      await this.deps.store.save(rows);
      await this.react(rows);
      const moved = await this.deps.store.advance(blob, checkpoint.offset + consumed, checkpoint);
      // Another instance took these lines (same rows, same keys): start again from where it stopped.
      if (!moved) this.deps.log.info(`audit ingestion: ${blob} moved on meanwhile; reading from its new checkpoint`);
    }
  }

  private async react(rows: readonly EvidenceRow[]): Promise<void> {
    const refusedKeys = new Set<string>();
    const unexplained = rows.filter((row) => row.type === 'assignment-change' || row.type === 'outside-any-grant');
    // One run for all the piece's unexplained operations, started before anyone is told about them.
    const runId = unexplained.length > 0 ? await this.deps.reactions.reconcileNow?.(unexplained) : undefined;
    for (const row of rows) {
      const onceKey = `evidence|${row.blob}|${row.offset}`;
      if (row.type === 'assignment-change') await this.deps.reactions.assignmentChanged(row, onceKey, runId);
      if (row.type === 'outside-any-grant') await this.deps.reactions.usedOutsideAnyGrant(row, onceKey, runId);
      if (row.type === 'refused' && row.key) refusedKeys.add(`${row.principalId}\n${row.key}`);
    }
    for (const pair of refusedKeys) {
      const [principalId, key] = pair.split('\n');
      const count = await this.deps.store.refusalCount(principalId, key);
      if (count >= PERSISTENT_REFUSALS) await this.deps.reactions.persistentRefusals(principalId, key, count, `evidence|refusals|${principalId}|${key}`);
    }
  }
}
