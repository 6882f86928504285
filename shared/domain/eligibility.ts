/**
 * evaluateRequest: may this caller ask for this role, on this scope, for this principal, for this
 * long? Returns the matching rule and the normalized request, or the most specific refusal.
 */
import { AZURE_BUILT_IN_ROLES, AZURE_RBAC_PLANE, isArmScope, normalizeArmScope, resolveAzureRole, sameArmScope, type RequestPlane } from './azureRbac';
import { formatIsoDuration, invalidDurationDetail, parseIsoDuration } from './duration';
import { principalByObjectId } from './policy/parse';
import type { EligibilityRule, HsmDefinition, Policy, PrincipalDefinition } from './policy/types';
import { BUILT_IN_ROLES, closestRole, isGuid, resolveRole, type RoleInfo } from './roles';
import { normalizeScope, scopeMatchesPattern } from './scope';

export interface Caller {
  readonly objectId: string;
  /** Group object ids from the caller's token. */
  readonly groups: readonly string[];
}

export interface RequestInput {
  readonly role: string;
  readonly scope: string;
  /** Whom the grant is for; defaults to the caller. */
  readonly principalId?: string;
  /** ISO 8601; defaults to the rule's defaultDuration. */
  readonly duration?: string;
  readonly justification?: string;
  readonly ticket?: string;
  readonly hsm?: string;
}

export type RefusalCode =
  | 'malformed-scope'
  | 'invalid-duration'
  | 'invalid-principal'
  | 'unknown-role'
  | 'unknown-hsm'
  | 'forbidden-principal'
  | 'group-principal'
  | 'not-eligible'
  | 'scope-not-allowed'
  | 'role-not-allowed'
  | 'principal-not-allowed'
  | 'duration-too-long'
  | 'duration-too-short'
  | 'justification-required'
  | 'ticket-required'
  | 'ticket-invalid';

export interface Refusal<C extends string = RefusalCode> {
  readonly ok: false;
  readonly status: 400 | 403 | 409 | 422;
  readonly code: C;
  readonly detail: string;
}

export interface EligibleRequest {
  readonly ok: true;
  readonly rule: EligibilityRule;
  readonly hsm: HsmDefinition;
  readonly role: RoleInfo;
  readonly roleId: string;
  readonly scope: string;
  /** Lower-case object id of the grantee. */
  readonly principalId: string;
  readonly durationMs: number;
  /** Canonical ISO 8601 text of durationMs. */
  readonly duration: string;
  readonly justification: string;
  readonly ticket?: string;
  readonly approvalsRequired: number;
  /** Set for the management plane: `scope` is an ARM scope, `role` an Azure role. */
  readonly plane?: RequestPlane;
  /** What the service assumed for the caller (e.g. no principalId: the grant is for the caller). */
  readonly notes: readonly string[];
}

export type EvaluationResult = EligibleRequest | Refusal;

const MAX_TICKET_LENGTH = 200;

function refuse(status: Refusal['status'], code: RefusalCode, detail: string): Refusal {
  return { ok: false, status, code, detail };
}

/** Whether the caller is one of the principals (by object id, or by group membership in the token). */
export function callerMatches(caller: Caller, objectIds: readonly string[]): boolean {
  const me = caller.objectId.toLowerCase();
  const groups = caller.groups.map((g) => g.toLowerCase());
  return objectIds.some((id) => id === me || groups.includes(id));
}

/** Resolves the HSM a request is for: the named one, or the policy's default. */
/** The HSM a request or run without one is about: the policy's default, else its first. */
export function defaultHsmName(policy: Policy): string {
  return policy.defaultHsm ?? policy.hsms[0]?.name ?? '';
}

export function resolveHsm(policy: Policy, name: string | undefined): HsmDefinition | undefined {
  const wanted = name ?? policy.defaultHsm;
  if (wanted === undefined) return undefined;
  return policy.hsms.find((h) => h.name.toLowerCase() === wanted.toLowerCase());
}

/**
 * Why a target principal must never hold a data-plane role, or undefined when it may.
 * A target is forbidden when it is a forbidden principal, a declared member of a forbidden group, or
 * (when it is the caller) a member of a forbidden group according to the caller's token.
 */
export function forbiddenReason(policy: Policy, principalId: string, caller?: Caller): string | undefined {
  const id = principalId.toLowerCase();
  const callerGroups = caller && caller.objectId.toLowerCase() === id ? caller.groups.map((g) => g.toLowerCase()) : [];
  for (const f of policy.forbidden) {
    if (f.principalId === id || f.memberObjectIds.includes(id) || callerGroups.includes(f.principalId)) {
      const why = f.principalId === id ? `'${f.principal}'` : `a member of '${f.principal}'`;
      return `${why} must never hold a data-plane role${f.reason ? `: ${f.reason}` : ''}`;
    }
  }
  return undefined;
}

/** The rules this caller may request under (for an HSM, when given). */
export function rulesForCaller(policy: Policy, caller: Caller, hsm?: string): EligibilityRule[] {
  return policy.eligibility.filter((r) => callerMatches(caller, r.requesterObjectIds) && (hsm === undefined || r.hsm === undefined || r.hsm === hsm));
}

function ruleAllowsTarget(rule: EligibilityRule, caller: Caller, principalId: string): boolean {
  if (rule.allowSelf && principalId === caller.objectId.toLowerCase()) return true;
  return rule.targetObjectIds.includes(principalId);
}

/** The principal the policy declares as a group under this object id, if any. */
export function declaredGroup(policy: Policy, objectId: string): PrincipalDefinition | undefined {
  const principal = principalByObjectId(policy, objectId);
  return principal?.type === 'Group' ? principal : undefined;
}

/**
 * A group never asks for access and is never granted it, on either plane: its members would then
 * approve a grant to themselves. Requesters and grantees are users and service principals.
 */
export function groupPrincipalRefusal(policy: Policy, requesterId: string, granteeId: string): Refusal | undefined {
  const requester = declaredGroup(policy, requesterId);
  if (requester) return refuse(403, 'group-principal', `'${requester.alias}' is a group: access is asked for by a user or a service principal, never by a group`);
  const grantee = declaredGroup(policy, granteeId);
  if (grantee) return refuse(403, 'group-principal', `'${grantee.alias}' is a group: access is granted to users and service principals only; ask for the member who needs it`);
  return undefined;
}

/** Whom these rules let the caller ask for: 'yourself' and the named targets, with their object ids. */
export function granteesAllowed(policy: Policy, rules: readonly EligibilityRule[]): string[] {
  const names = new Set<string>();
  for (const rule of rules) {
    if (rule.allowSelf) names.add('yourself');
    for (const alias of rule.targets) names.add(`${alias} (${policy.principals[alias]?.objectId ?? 'unknown'})`);
  }
  return [...names];
}

/** An unknown role name, with the likeliest meant role and the roles the caller's rules allow. */
function unknownRole(text: unknown, known: readonly RoleInfo[], mine: readonly EligibilityRule[], what: string): Refusal {
  const allowed = [...new Map(mine.flatMap((r) => r.roles).map((r) => [r.id, r])).values()];
  const guess = typeof text === 'string' ? (closestRole(text, allowed) ?? closestRole(text, known)) : undefined;
  const hint = guess ? `: did you mean '${guess.alias ?? guess.name}'?` : '';
  const list = allowed.length > 0 ? ` Roles your rules let you request: ${allowed.map((r) => r.alias ?? r.name).join(', ')}.` : ' No rule lets you request any role here.';
  return refuse(422, 'unknown-role', `'${String(text)}' is not a known ${what}${hint}${list}`);
}

/** What a management-plane request is "on": no HSM, the Azure RBAC plane of the policy. */
const AZURE_RBAC_TARGET: HsmDefinition = Object.freeze({ name: AZURE_RBAC_PLANE, url: 'https://management.azure.com', default: false });

/** The plane a request is for, from its scope: ARM resource ids are the management plane. */
interface PlaneTarget {
  readonly scope: string;
  readonly role: RoleInfo;
  readonly hsm: HsmDefinition;
  readonly rules: (caller: Caller) => EligibilityRule[];
  readonly scopeAllowed: (pattern: string, scope: string) => boolean;
  readonly plane?: RequestPlane;
}

function azureTarget(policy: Policy, input: RequestInput, caller: Caller): PlaneTarget | Refusal {
  if (!policy.azureRbac) return refuse(422, 'scope-not-allowed', 'this policy governs no Azure RBAC (management-plane) scopes');
  const scopeResult = normalizeArmScope(input.scope);
  if (!scopeResult.ok) return refuse(400, 'malformed-scope', scopeResult.detail);
  const rules = (who: Caller): EligibilityRule[] => policy.eligibility.filter((r) => r.plane === AZURE_RBAC_PLANE && callerMatches(who, r.requesterObjectIds));
  const role = resolveAzureRole(input.role);
  if (!role) return unknownRole(input.role, AZURE_BUILT_IN_ROLES, rules(caller), 'Azure role name or id');
  if (input.hsm !== undefined) return refuse(422, 'unknown-hsm', 'a management-plane request names no HSM');
  return { scope: scopeResult.scope, role, hsm: AZURE_RBAC_TARGET, plane: AZURE_RBAC_PLANE, rules, scopeAllowed: sameArmScope };
}

function hsmTarget(policy: Policy, input: RequestInput, caller: Caller): PlaneTarget | Refusal {
  const scopeResult = normalizeScope(input.scope);
  if (!scopeResult.ok) return refuse(400, 'malformed-scope', scopeResult.detail);
  const hsm = resolveHsm(policy, input.hsm);
  const rules = (who: Caller): EligibilityRule[] => rulesForCaller(policy, who, hsm?.name).filter((r) => r.plane === undefined);
  const role = typeof input.role === 'string' ? resolveRole(input.role, policy.customRoles) : undefined;
  if (!role) return unknownRole(input.role, [...BUILT_IN_ROLES, ...policy.customRoles], rules(caller), 'role name, alias or id');
  if (!hsm) return refuse(422, 'unknown-hsm', input.hsm === undefined ? 'no HSM named and the policy has no default HSM' : `unknown HSM '${input.hsm}'`);
  return { scope: scopeResult.scope, role, hsm, rules, scopeAllowed: scopeMatchesPattern };
}

export function evaluateRequest(policy: Policy, caller: Caller, input: RequestInput, now: Date): EvaluationResult {
  void now; // Reserved for time-dependent rules (e.g. release windows); the evaluation is otherwise timeless.
  // 1. Well-formedness.
  const target = isArmScope(input.scope) ? azureTarget(policy, input, caller) : hsmTarget(policy, input, caller);
  if ('ok' in target) return target;
  const { scope, role, hsm } = target;
  let requestedMs: number | undefined;
  if (input.duration !== undefined) {
    requestedMs = parseIsoDuration(input.duration);
    if (requestedMs === undefined) return refuse(400, 'invalid-duration', invalidDurationDetail(input.duration));
  }
  if (input.principalId !== undefined && !isGuid(input.principalId)) return refuse(400, 'invalid-principal', 'principalId must be an Entra object id (GUID)');
  const defaulted = input.principalId === undefined;
  const principalId = (input.principalId ?? caller.objectId).toLowerCase();

  // 2. Forbidden principals are refused whatever the rules say (they hold no data-plane role; the management plane is not data access).
  const forbidden = target.plane ? undefined : forbiddenReason(policy, principalId, caller);
  if (forbidden) {
    if (!defaulted) return refuse(403, 'forbidden-principal', forbidden);
    const matching = target.rules(caller).filter((r) => r.roles.some((x) => x.id === role.id) && r.scopes.some((p) => target.scopeAllowed(p, scope)));
    const allowed = granteesAllowed(policy, matching).filter((g) => g !== 'yourself');
    return refuse(403, 'forbidden-principal', `no principalId was given, so the request was for you, and ${forbidden}.${allowed.length > 0 ? ` Set principalId to one of: ${allowed.join(', ')}` : ''}`);
  }
  const group = groupPrincipalRefusal(policy, caller.objectId, principalId);
  if (group) return group;

  // 3. Narrow the rules step by step, reporting the step that empties the set.
  const mine = target.rules(caller);
  if (mine.length === 0) return refuse(403, 'not-eligible', target.plane ? 'no eligibility rule lets you request Azure roles' : `no eligibility rule lets you request access on HSM '${hsm.name}'`);
  const forRole = mine.filter((r) => r.roles.some((x) => x.id === role.id));
  if (forRole.length === 0) return refuse(403, 'role-not-allowed', `no rule lets you request '${role.name}'`);
  const forScope = forRole.filter((r) => r.scopes.some((p) => target.scopeAllowed(p, scope)));
  if (forScope.length === 0) {
    const allowed = [...new Set(forRole.flatMap((r) => r.scopes))].join(', ');
    return refuse(403, 'scope-not-allowed', `'${role.name}' may not be requested on '${scope}' (allowed: ${allowed})`);
  }
  const forTarget = forScope.filter((r) => ruleAllowsTarget(r, caller, principalId));
  const allowedGrantees = granteesAllowed(policy, forScope).join(', ');
  if (forTarget.length === 0) {
    if (defaulted) {
      return refuse(403, 'principal-not-allowed', `no principalId was given, so the request was for you; '${role.name}' on '${scope}' may not be requested for yourself. Set principalId to one of: ${allowedGrantees}`);
    }
    return refuse(403, 'principal-not-allowed', principalId === caller.objectId.toLowerCase()
      ? `'${role.name}' on '${scope}' may not be requested for yourself (allowed: ${allowedGrantees})`
      : `'${role.name}' on '${scope}' may not be requested for principal ${principalId} (allowed: ${allowedGrantees})`);
  }
  const notes = defaulted ? [`No principalId was given: the grant is for you (${principalId}). The matching rules allow: ${allowedGrantees}.`] : [];

  // 4. Per-rule conditions; the first rule that accepts wins, else the first rule's refusal.
  let firstRefusal: Refusal | undefined;
  for (const rule of forTarget) {
    const result = checkRuleConditions(rule, input, requestedMs);
    if (result.ok) {
      const ticket = input.ticket?.trim();
      return {
        ok: true, rule, hsm, role, roleId: role.id,
        // The policy's spelling of an ARM scope (they compare case-insensitively), so that names derive from one text.
        scope: target.plane ? (rule.scopes.find((p) => target.scopeAllowed(p, scope)) ?? scope) : scope,
        principalId,
        ...(target.plane ? { plane: target.plane } : {}),
        durationMs: result.durationMs, duration: formatIsoDuration(result.durationMs),
        justification: (input.justification ?? '').trim(),
        ...(ticket ? { ticket } : {}),
        approvalsRequired: rule.approval.count,
        notes,
      };
    }
    firstRefusal ??= result;
  }
  return firstRefusal as Refusal;
}

function checkRuleConditions(rule: EligibilityRule, input: RequestInput, requestedMs: number | undefined): { ok: true; durationMs: number } | Refusal {
  const durationMs = requestedMs ?? rule.defaultDurationMs;
  if (durationMs > rule.maxDurationMs) return refuse(422, 'duration-too-long', `${formatIsoDuration(durationMs)} is longer than the maximum ${rule.maxDuration} of rule '${rule.id}'`);
  if (durationMs < rule.minDurationMs) return refuse(422, 'duration-too-short', `${formatIsoDuration(durationMs)} is shorter than the minimum ${formatIsoDuration(rule.minDurationMs)}`);
  const justification = typeof input.justification === 'string' ? input.justification.trim() : '';
  if (rule.requireJustification && !justification) return refuse(422, 'justification-required', `rule '${rule.id}' requires a justification`);
  const ticket = typeof input.ticket === 'string' ? input.ticket.trim() : '';
  if (rule.requireTicket && !ticket) return refuse(422, 'ticket-required', `rule '${rule.id}' requires a ticket reference`);
  if (ticket) {
    if (ticket.length > MAX_TICKET_LENGTH) return refuse(422, 'ticket-invalid', `the ticket reference is longer than ${MAX_TICKET_LENGTH} characters`);
    if (rule.ticketPattern !== undefined && !new RegExp(rule.ticketPattern).test(ticket)) {
      return refuse(422, 'ticket-invalid', `ticket '${ticket}' does not match ${rule.ticketPattern}`);
    }
  }
  return { ok: true, durationMs };
}
