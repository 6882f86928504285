import { isHsmWide, type StoredAssignment } from './model';

const HSM_WIDE = '\u0000hsm-wide';

function add<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function remove<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (!list) return;
  const at = list.indexOf(value);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) map.delete(key);
}

/**
 * The HSM's role assignments, indexed by scope, principal and name. At the service limits (5,000
 * keys, 10 assignments each) a linear scan per request made the emulator, not the throttle, the
 * bottleneck. The array stays the stored state and keeps its order: every lookup answers in that
 * order, exactly as the scan did.
 */
export class AssignmentIndex {
  private readonly order = new Map<StoredAssignment, number>();
  private readonly byScope = new Map<string, StoredAssignment[]>();
  private readonly byPrincipal = new Map<string, StoredAssignment[]>();
  private readonly byName = new Map<string, StoredAssignment[]>();
  private next = 0;

  constructor(private readonly all: StoredAssignment[]) {
    for (const assignment of all) this.index(assignment);
  }

  private index(assignment: StoredAssignment): void {
    this.order.set(assignment, this.next++);
    add(this.byScope, scopeKey(assignment.scope), assignment);
    add(this.byPrincipal, assignment.principalId.toLowerCase(), assignment);
    add(this.byName, assignment.name.toLowerCase(), assignment);
  }

  private sorted(lists: ReadonlyArray<readonly StoredAssignment[] | undefined>): StoredAssignment[] {
    const merged = lists.flatMap((list) => list ?? []);
    return lists.filter((list) => list && list.length > 0).length > 1 ? merged.sort((a, b) => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0)) : merged;
  }

  push(assignment: StoredAssignment): void {
    this.all.push(assignment);
    this.index(assignment);
  }

  delete(assignment: StoredAssignment): void {
    const at = this.all.indexOf(assignment);
    if (at >= 0) this.all.splice(at, 1);
    this.order.delete(assignment);
    remove(this.byScope, scopeKey(assignment.scope), assignment);
    remove(this.byPrincipal, assignment.principalId.toLowerCase(), assignment);
    remove(this.byName, assignment.name.toLowerCase(), assignment);
  }

  /** At `/` or `/keys`: the HSM-wide ones (both scopes); at a key: that key's own. */
  atLevel(scope: string): StoredAssignment[] {
    return [...(this.byScope.get(scopeKey(scope)) ?? [])];
  }

  /** What applies at a scope: the HSM-wide ones, and at a key also the key's own. */
  covering(scope: string): StoredAssignment[] {
    return isHsmWide(scope) ? this.atLevel(scope) : this.sorted([this.byScope.get(HSM_WIDE), this.byScope.get(scopeKey(scope))]);
  }

  /** Every assignment of these principals (object ids, any case). */
  of(principalIds: readonly string[]): StoredAssignment[] {
    const keys = [...new Set(principalIds.map((id) => id.toLowerCase()))];
    return this.sorted(keys.map((id) => this.byPrincipal.get(id)));
  }

  named(name: string): StoredAssignment[] {
    return [...(this.byName.get(name.toLowerCase()) ?? [])];
  }
}

function scopeKey(scope: string): string {
  return isHsmWide(scope) ? HSM_WIDE : scope.toLowerCase();
}
