/**
 * The groups a caller is in, when their token says it could not list them (the groups overage):
 * asked of the directory with the app's own identity, remembered for a few minutes per principal,
 * and none at all when the directory cannot answer. A caller whose groups are unknown has no
 * group-based rights (fail closed); the request goes on, and the log says why.
 */
import { DirectoryError, type GroupDirectory, type GroupOverage } from './directoryPorts';
import type { Clock, ServiceLog } from './ports';

export interface OverageCaller {
  readonly principalId: string;
  /** The groups the token itself carried (none when it overflowed). */
  readonly groups: readonly string[];
  readonly groupOverage?: GroupOverage;
}

export interface CallerGroupsOptions {
  /** Undefined when no directory is configured: overage callers then get only their token's groups. */
  readonly directory: GroupDirectory | undefined;
  readonly clock: Clock;
  /** How long an answer is kept (default 5 minutes). */
  readonly ttlMs?: number;
  /** How many principals are kept at most (default 5,000; the oldest goes first). */
  readonly maxEntries?: number;
}

export const DEFAULT_GROUP_CACHE_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_ENTRIES = 5_000;

export class CallerGroups {
  private readonly cache = new Map<string, { groups: readonly string[]; expiresAt: number }>();
  /** Lookups under way, so that a burst of one caller's requests asks the directory once. */
  private readonly pending = new Map<string, Promise<readonly string[]>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: CallerGroupsOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_GROUP_CACHE_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** The caller's groups: the token's when it carried them all, else the directory's; never throws. */
  async groupsOf(caller: OverageCaller, log: ServiceLog): Promise<readonly string[]> {
    if (!caller.groupOverage) return caller.groups;
    return this.lookUp(caller.principalId, caller.groups, log, { overage: caller.groupOverage }, { topic: 'Group overage', who: 'the caller' });
  }

  /**
   * The groups of a person known only by object id (a click in Teams: activities carry no group
   * claims), from the directory, with the same cache; none when it cannot answer. Never throws.
   */
  async groupsOfPerson(objectId: string, log: ServiceLog): Promise<readonly string[]> {
    return this.lookUp(objectId, [], log, { source: 'teams' }, { topic: 'Teams', who: 'the clicker' });
  }

  private async lookUp(principalId: string, known: readonly string[], log: ServiceLog, context: Record<string, string>, words: { topic: string; who: string }): Promise<readonly string[]> {
    const key = principalId.toLowerCase();
    const now = this.options.clock.now().getTime();
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > now) return [...new Set([...known.map((g) => g.toLowerCase()), ...cached.groups])];
    const { directory } = this.options;
    if (!directory) {
      log.error(`${words.topic}: ${words.who}'s groups are not known and no directory is configured (GRAPH_ENDPOINT), so ${words.who} has no group-based rights`, { principalId: key, ...context });
      return known;
    }
    let lookup = this.pending.get(key);
    if (!lookup) {
      lookup = directory.memberGroups(key).finally(() => this.pending.delete(key));
      this.pending.set(key, lookup);
    }
    try {
      const found = (await lookup).map((g) => g.toLowerCase());
      this.remember(key, [...new Set(found)], this.options.clock.now().getTime());
      const groups = [...new Set([...known.map((g) => g.toLowerCase()), ...found])];
      log.info(`${words.topic}: ${words.who}'s groups came from Microsoft Graph`, { principalId: key, ...context, groupCount: groups.length });
      return groups;
    } catch (error) {
      const reason = error instanceof DirectoryError ? error.reason : error instanceof Error ? error.message : String(error);
      log.error(`${words.topic}: Microsoft Graph did not give ${words.who}'s groups (${reason}), so ${words.who} has no group-based rights for this request`, {
        principalId: key, ...context, ...(error instanceof DirectoryError && error.status !== undefined ? { status: error.status } : {}), ...(error instanceof DirectoryError && error.code ? { code: error.code } : {}),
      });
      return known;
    }
  }

  private remember(key: string, groups: readonly string[], now: number): void {
    this.cache.delete(key);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { groups, expiresAt: now + this.ttlMs });
  }
}
