import type { AssignmentPort, HsmAssignment, RevocationScheduler, WakeReason } from '../../shared/services/ports';

/** One plane's role assignments in memory, as the real ports answer: idempotent create and remove. */
export class InMemoryAssignments implements AssignmentPort {
  readonly assignments = new Map<string, HsmAssignment>();
  /** Set to make the next creates throw (e.g. `{ statusCode: 403 }` for a refusal). */
  failCreateWith: (Error & { statusCode?: number }) | undefined;

  async create(assignment: HsmAssignment): Promise<{ outcome: 'created' | 'existed' | 'covered' }> {
    if (this.failCreateWith) throw this.failCreateWith;
    const key = `${assignment.scope}|${assignment.name}`;
    if (this.assignments.has(key)) return { outcome: 'existed' };
    this.assignments.set(key, assignment);
    return { outcome: 'created' };
  }

  async remove(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    this.assignments.delete(`${scope}|${name}`);
    return {};
  }

  async listFor(scope: string, principalId: string): Promise<HsmAssignment[]> {
    return [...this.assignments.values()].filter((a) => a.scope === scope && a.principalId.toLowerCase() === principalId.toLowerCase());
  }
}

/** Remembers every wake-up asked for, instead of queueing it. */
export class RecordingScheduler implements RevocationScheduler {
  readonly scheduled: Array<{ requestId: string; at: Date; reason: WakeReason }> = [];

  async schedule(requestId: string, at: Date, reason: WakeReason = 'expiry'): Promise<void> {
    this.scheduled.push({ requestId, at, reason });
  }
}
