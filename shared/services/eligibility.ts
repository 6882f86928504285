/**
 * `GET /api/eligibility` and `/explain`: the catalog of what the caller may ask for, with `/keys/*`
 * expanded from the HSM's key list (cached: every page load would otherwise list the HSM's keys).
 */
import { eligibilityCatalog, explainEligibility, type AccessRequest, type Caller, type CatalogRule, type Explanation, type ExplainInput, type Policy } from '../domain';
import type { Clock, ServiceLog } from './ports';

export const KEY_LIST_TTL_MS = 5 * 60_000;
const MAX_REQUESTS_READ = 500;

export interface EligibilityDependencies {
  readonly policy: Policy;
  /** The key names of one HSM of the policy. */
  listKeys(hsm: string): Promise<string[]>;
  /** A page of the caller's own requests, newest first. */
  myRequests(caller: Caller, continuation?: string): Promise<{ items: AccessRequest[]; continuation?: string }>;
  readonly clock: Clock;
  readonly log: ServiceLog;
}

/** Key names per HSM, kept for KEY_LIST_TTL_MS; one per process, shared by every call. */
export class KeyListCache {
  private readonly entries = new Map<string, { at: number; keys: Promise<string[]> }>();

  async keys(hsm: string, list: (hsm: string) => Promise<string[]>, now: number): Promise<string[]> {
    const cached = this.entries.get(hsm);
    if (cached && now - cached.at < KEY_LIST_TTL_MS) return cached.keys;
    const keys = list(hsm);
    this.entries.set(hsm, { at: now, keys });
    // A failed listing is not remembered: the next call tries again.
    keys.catch(() => this.entries.delete(hsm));
    return keys;
  }
}

export class EligibilityService {
  constructor(private readonly deps: EligibilityDependencies, private readonly cache: KeyListCache) {}

  async catalog(caller: Caller): Promise<CatalogRule[]> {
    const hsms = [...new Set(this.deps.policy.eligibility.filter((r) => !r.plane && r.scopes.includes('/keys/*')).map((r) => r.hsm ?? this.deps.policy.defaultHsm ?? ''))].filter(Boolean);
    const keys = new Map<string, string[]>();
    await Promise.all(hsms.map(async (hsm) => {
      try {
        keys.set(hsm, (await this.cache.keys(hsm, (name) => this.deps.listKeys(name), this.deps.clock.now().getTime())).sort());
      } catch (error) {
        this.deps.log.warn(`Eligibility: the keys of HSM '${hsm}' could not be listed (${(error as Error).message}); /keys/* is shown unexpanded`);
      }
    }));
    return eligibilityCatalog(this.deps.policy, caller, (hsm) => keys.get(hsm), await this.requestsOf(caller));
  }

  explain(caller: Caller, input: ExplainInput): Explanation {
    return explainEligibility(this.deps.policy, caller, input);
  }

  private async requestsOf(caller: Caller): Promise<AccessRequest[]> {
    const items: AccessRequest[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.deps.myRequests(caller, continuation);
      items.push(...page.items);
      continuation = page.continuation;
    } while (continuation && items.length < MAX_REQUESTS_READ);
    return items;
  }
}
