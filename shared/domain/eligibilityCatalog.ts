/**
 * What a caller may ask for, and why a request would be allowed or refused, in words. The catalog
 * feeds the portal's form and the CLI; the explanation's words are also what refusals say.
 */
import { resolveAzureRole, sameArmScope } from './azureRbac';
import { formatIsoDuration } from './duration';
import { callerMatches, forbiddenReason, groupPrincipalRefusal, type Caller, type Refusal, type RequestInput } from './eligibility';
import type { AccessRequest } from './lifecycle';
import { principalByObjectId } from './policy/parse';
import type { EligibilityRule, Policy, PrincipalType } from './policy/types';
import { resolveRole } from './roles';
import { scopeMatchesPattern } from './scope';

export interface PrincipalView {
  readonly objectId: string;
  readonly alias: string;
  readonly displayName: string;
  readonly type: PrincipalType;
}

export interface CatalogScope {
  /** A concrete scope, `/` or `/keys/{name}`. */
  readonly scope: string;
  /** The key's name, or null for a scope that is not one key. */
  readonly key: string | null;
}

export interface CatalogRule {
  readonly id: string;
  readonly description: string | null;
  readonly plane: 'hsm' | 'azure-rbac';
  readonly hsm: string | null;
  readonly roles: ReadonlyArray<{ readonly id: string; readonly name: string; readonly alias: string | null }>;
  /** The rule's scopes as the policy writes them (`/keys/*` included). */
  readonly scopePatterns: readonly string[];
  /** The scopes with `/keys/*` expanded to the HSM's keys. */
  readonly scopes: readonly CatalogScope[];
  /** False when the HSM's key list could not be read: `/keys/*` is then not expanded. */
  readonly keysListed: boolean;
  readonly grantees: readonly PrincipalView[];
  readonly defaultDuration: string;
  readonly maxDuration: string;
  readonly minDuration: string;
  readonly justificationRequired: boolean;
  readonly ticket: { readonly required: boolean; readonly pattern: string | null };
  readonly approval: { readonly count: number; readonly approvers: readonly PrincipalView[] };
  /** The caller's open requests and running grants under this rule. */
  readonly requests: ReadonlyArray<Pick<AccessRequest, 'id' | 'status' | 'role' | 'scope' | 'principalId'> & { readonly expiresAt: string | null }>;
}

const OPEN = new Set(['Pending', 'Approved', 'Active']);

/** A principal of the policy by alias or object id, as the API shows it. */
export function principalView(policy: Policy, aliasOrId: string): PrincipalView | undefined {
  const byAlias = policy.principals[aliasOrId];
  const principal = byAlias ?? principalByObjectId(policy, aliasOrId);
  if (!principal) return undefined;
  return { objectId: principal.objectId, alias: principal.alias, displayName: principal.displayName ?? principal.alias, type: principal.type };
}

function selfView(policy: Policy, caller: Caller): PrincipalView {
  return principalView(policy, caller.objectId.toLowerCase()) ?? { objectId: caller.objectId.toLowerCase(), alias: 'you', displayName: 'you', type: 'User' };
}

function granteesOf(policy: Policy, rule: EligibilityRule, caller: Caller): PrincipalView[] {
  const views = rule.targets.map((alias) => principalView(policy, alias)).filter((v): v is PrincipalView => v !== undefined);
  return rule.allowSelf ? [selfView(policy, caller), ...views] : views;
}

function expandScopes(patterns: readonly string[], keys: readonly string[] | undefined): CatalogScope[] {
  const scopes: CatalogScope[] = [];
  for (const pattern of patterns) {
    if (pattern === '/keys/*') scopes.push(...(keys ?? []).map((key) => ({ scope: `/keys/${key}`, key })));
    else scopes.push({ scope: pattern, key: pattern.startsWith('/keys/') ? pattern.slice('/keys/'.length) : null });
  }
  return [...new Map(scopes.map((s) => [s.scope, s])).values()];
}

/**
 * Every rule the caller may use, with `/keys/*` expanded from `keysOf(hsm)` (undefined: not listed)
 * and the caller's open requests under each.
 */
export function eligibilityCatalog(policy: Policy, caller: Caller, keysOf: (hsm: string) => readonly string[] | undefined, requests: readonly AccessRequest[]): CatalogRule[] {
  return policy.eligibility.filter((rule) => callerMatches(caller, rule.requesterObjectIds)).map((rule) => {
    const hsm = rule.plane ? null : (rule.hsm ?? policy.defaultHsm ?? policy.hsms[0]?.name ?? null);
    const keys = hsm ? keysOf(hsm) : undefined;
    return {
      id: rule.id,
      description: rule.description ?? null,
      plane: rule.plane ? 'azure-rbac' : 'hsm',
      hsm,
      roles: rule.roles.map((r) => ({ id: r.id, name: r.name, alias: r.alias ?? null })),
      scopePatterns: rule.scopes,
      scopes: expandScopes(rule.scopes, keys),
      keysListed: !rule.scopes.includes('/keys/*') || keys !== undefined,
      grantees: granteesOf(policy, rule, caller),
      defaultDuration: rule.defaultDuration,
      maxDuration: rule.maxDuration,
      minDuration: formatIsoDuration(rule.minDurationMs),
      justificationRequired: rule.requireJustification,
      ticket: { required: rule.requireTicket, pattern: rule.ticketPattern ?? null },
      approval: { count: rule.approval.count, approvers: rule.approval.approvers.map((a) => principalView(policy, a)).filter((v): v is PrincipalView => v !== undefined) },
      requests: requests
        .filter((r) => r.ruleId === rule.id && OPEN.has(r.status))
        .map((r) => ({ id: r.id, status: r.status, role: r.role, scope: r.scope, principalId: r.principalId, expiresAt: r.expiresAt ?? null })),
    };
  });
}

export interface ExplainInput {
  readonly role: string;
  readonly scope: string;
  /** Whom for; the caller when absent. */
  readonly principalId?: string;
}

export interface RuleExplanation {
  readonly rule: string;
  readonly allows: boolean;
  readonly words: string;
}

export interface Explanation {
  readonly allowed: boolean;
  /** One paragraph: who the caller is, then rule by rule. */
  readonly summary: string;
  readonly caller: string;
  readonly rules: readonly RuleExplanation[];
}

const nameOf = (policy: Policy, aliasOrId: string): string => principalView(policy, aliasOrId)?.displayName ?? aliasOrId;
const list = (items: readonly string[]): string => (items.length <= 1 ? (items[0] ?? 'nobody') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`);

/** "you are in Contoso App DevOps" */
export function callerInWords(policy: Policy, caller: Caller): string {
  const groups = caller.groups.map((g) => principalView(policy, g.toLowerCase())).filter((v): v is PrincipalView => v?.type === 'Group');
  return groups.length > 0 ? `you are in ${list(groups.map((g) => g.displayName))}` : 'you are in no group the policy names';
}

function granteeWords(rule: EligibilityRule): string {
  const names = [...(rule.allowSelf ? ['yourself'] : []), ...rule.targets];
  return `allows ${list(names)} only`;
}

function explainRule(policy: Policy, caller: Caller, rule: EligibilityRule, input: ExplainInput, principalId: string): RuleExplanation {
  const say = (allows: boolean, words: string): RuleExplanation => ({ rule: rule.id, allows, words: `rule ${rule.id} ${words}` });
  if (!callerMatches(caller, rule.requesterObjectIds)) return say(false, `is for ${list(rule.requesters.map((r) => nameOf(policy, r)))}, and you are not among them`);
  const role = rule.plane ? resolveAzureRole(input.role) : resolveRole(input.role, policy.customRoles);
  if (!role || !rule.roles.some((r) => r.id === role.id)) return say(false, `offers ${list(rule.roles.map((r) => r.alias ?? r.name))}, not '${input.role}'`);
  const covers = (pattern: string): boolean => (rule.plane ? sameArmScope(pattern, input.scope) : scopeMatchesPattern(pattern, input.scope));
  if (!rule.scopes.some(covers)) return say(false, `covers ${list([...rule.scopes])}, not ${input.scope}`);
  const self = principalId === caller.objectId.toLowerCase();
  if (!(rule.allowSelf && self) && !rule.targetObjectIds.includes(principalId)) return say(false, granteeWords(rule));
  const conditions = [
    `for up to ${rule.maxDuration}`,
    rule.approval.count === 0 ? 'with no approval' : `with ${rule.approval.count} approval${rule.approval.count > 1 ? 's' : ''} from ${list(rule.approval.approvers.map((a) => nameOf(policy, a)))}`,
    ...(rule.requireTicket ? [`with a ticket${rule.ticketPattern ? ` matching ${rule.ticketPattern}` : ''}`] : []),
    ...(rule.requireJustification ? ['with a justification'] : []),
  ];
  return say(true, `allows it ${conditions.join(', ')}`);
}

/** Why a request for this role, scope and grantee would be allowed or refused, rule by rule. */
export function explainEligibility(policy: Policy, caller: Caller, input: ExplainInput): Explanation {
  const principalId = (input.principalId ?? caller.objectId).toLowerCase();
  const who = callerInWords(policy, caller);
  const blocked = forbiddenReason(policy, principalId, caller) ?? groupPrincipalRefusal(policy, caller.objectId, principalId)?.detail;
  const rules = policy.eligibility.map((rule) => explainRule(policy, caller, rule, input, principalId));
  const mine = rules.filter((r) => !r.words.endsWith('and you are not among them'));
  const allowed = blocked === undefined && rules.some((r) => r.allows);
  const reasons = [...(blocked ? [blocked] : []), ...(mine.length > 0 ? mine.map((r) => r.words) : ['no rule lets you ask for anything'])];
  return { allowed, caller: who, rules, summary: `${who}; ${reasons.join('; ')}` };
}

const EXPLAINED = new Set(['not-eligible', 'role-not-allowed', 'scope-not-allowed', 'principal-not-allowed']);

/** A refusal of whom, what or where, with the explanation's words (the same as GET /api/eligibility/explain gives). */
export function explainedRefusal(policy: Policy, caller: Caller, input: RequestInput, refusal: Refusal): Refusal {
  if (!EXPLAINED.has(refusal.code)) return refusal;
  const { summary } = explainEligibility(policy, caller, { role: input.role, scope: input.scope, ...(input.principalId ? { principalId: input.principalId } : {}) });
  return { ...refusal, detail: `${refusal.detail}. Why: ${summary}` };
}
