/** The policy as the service uses it: parsed, validated, aliases resolved to object ids. */
import type { RequestPlane } from '../azureRbac';
import type { RoleInfo } from '../roles';

export type PrincipalType = 'User' | 'Group' | 'ServicePrincipal';

export interface HsmDefinition {
  readonly name: string;
  readonly url: string;
  readonly default: boolean;
}

export interface PrincipalDefinition {
  readonly alias: string;
  /** Entra object id, lower case. */
  readonly objectId: string;
  readonly type: PrincipalType;
  readonly displayName?: string;
  /** For groups: aliases of members the policy knows about (used to apply `forbidden` to members). */
  readonly members: readonly string[];
  /** Where notifications for this principal go. */
  readonly email?: string;
}

export interface ApprovalRule {
  /** Principal aliases (users or groups) whose members may approve. Empty when no approval is needed. */
  readonly approvers: readonly string[];
  readonly approverObjectIds: readonly string[];
  /** Distinct approvals needed; 0 means `approval: none`. */
  readonly count: number;
}

export interface EligibilityRule {
  readonly id: string;
  readonly description?: string;
  /** Principal aliases (users or groups) who may ask. */
  readonly requesters: readonly string[];
  readonly requesterObjectIds: readonly string[];
  /** Whom a request may target: the caller ('self') and/or named principals. */
  readonly allowSelf: boolean;
  readonly targets: readonly string[];
  readonly targetObjectIds: readonly string[];
  readonly roles: readonly RoleInfo[];
  /** Canonical scopes or `/keys/*`. */
  readonly scopes: readonly string[];
  readonly defaultDuration: string;
  readonly defaultDurationMs: number;
  readonly maxDuration: string;
  readonly maxDurationMs: number;
  readonly minDurationMs: number;
  readonly requireJustification: boolean;
  readonly requireTicket: boolean;
  readonly ticketPattern?: string;
  readonly approval: ApprovalRule;
  /** Restricts the rule to one HSM; undefined means every HSM of the policy. */
  readonly hsm?: string;
  /** True when any of its roles is privileged. */
  readonly privileged: boolean;
  /** Set for rules of the management plane (`azureRbac.eligibility`): Azure roles on ARM scopes. */
  readonly plane?: RequestPlane;
}

/** A policy entry that names a principal: its alias and its (lower-case) object id. */
export interface PrincipalEntry {
  readonly principal: string;
  readonly principalId: string;
}

/** A standing assignment of either plane. */
interface Standing extends PrincipalEntry {
  readonly role: RoleInfo;
  readonly scope: string;
  /** Whether reconciliation may re-create it when missing (default true). */
  readonly repair: boolean;
}

/** A protected assignment of either plane: every assignment of the principal that its role and scope (when given) match. */
interface Protected extends PrincipalEntry {
  /** Undefined: any role. */
  readonly role?: RoleInfo;
  /** Undefined: any scope (on the management plane: every governed scope). */
  readonly scope?: string;
  readonly reason?: string;
}

export interface StandingAssignment extends Standing {
  readonly hsm: string;
}

export interface ProtectedAssignment extends Protected {
  /** Undefined: every HSM. */
  readonly hsm?: string;
}

export interface ForbiddenPrincipal extends PrincipalEntry {
  readonly type: PrincipalType;
  /** Object ids of members declared in the policy (for a group). */
  readonly memberObjectIds: readonly string[];
  readonly reason?: string;
}

export interface PolicyDefaults {
  readonly pendingLifetime: string;
  readonly pendingLifetimeMs: number;
  readonly minDuration: string;
  readonly minDurationMs: number;
  readonly privilegedRoleIds: readonly string[];
  readonly privilegedMinApprovers: number;
}

export interface ReconcileSettings {
  readonly mode: 'report' | 'enforce';
  readonly maxRemovalsPerRun: number;
  readonly keyRotationPeriod: string;
  readonly keyRotationPeriodMs: number;
  readonly keyExpiryWarning: string;
  readonly keyExpiryWarningMs: number;
}

/** A standing Azure role assignment on an ARM scope. */
export interface AzureStandingAssignment extends Standing {
  readonly principalType: PrincipalType;
}

/** A protected Azure role assignment; a data-plane protected entry that names only a principal is one too. */
export type AzureProtectedAssignment = Protected;

/** The management plane: Azure RBAC on the governed ARM scopes. */
export interface AzureRbacPolicy {
  /** `assignment`: role assignments the service removes at expiry; `pim`: PIM schedule requests with an expiration (Entra ID P2). */
  readonly mode: 'assignment' | 'pim';
  /** Canonical ARM scopes the service governs (reconciles); every other ARM scope is left alone. */
  readonly scopes: readonly string[];
  readonly standing: readonly AzureStandingAssignment[];
  /** The management plane's own protected assignments, besides the policy-wide ones that name only a principal. */
  readonly protected: readonly AzureProtectedAssignment[];
}

export interface Policy {
  readonly version: 1;
  readonly sourceName: string;
  readonly hsms: readonly HsmDefinition[];
  /** The HSM used when a request names none (the one marked default, or the only one). */
  readonly defaultHsm?: string;
  readonly principals: Readonly<Record<string, PrincipalDefinition>>;
  readonly customRoles: readonly RoleInfo[];
  readonly eligibility: readonly EligibilityRule[];
  readonly standing: readonly StandingAssignment[];
  readonly protected: readonly ProtectedAssignment[];
  readonly forbidden: readonly ForbiddenPrincipal[];
  readonly defaults: PolicyDefaults;
  readonly reconcile: ReconcileSettings;
  /** Notification channels and timing; absent when the policy has no `notifications` section. */
  readonly notifications?: NotificationPolicy;
  /** The management plane; absent when the policy has no `azureRbac` section. Its rules are in `eligibility`, with `plane` set. */
  readonly azureRbac?: AzureRbacPolicy;
  /** Inbound access-request events; absent when the policy has no `events` section (no source is trusted). */
  readonly events?: EventsPolicy;
}

export interface EventsPolicy {
  /** Exact CloudEvents `source` values allowed to submit access requests. */
  readonly trustedSources: readonly string[];
}

/**
 * Where the Teams bot sends an approver alias's cards: personal chats with each member (members from
 * the directory), or one Teams channel (its conversation id, `19:...@thread.tacv2`).
 */
export type BotTarget = { readonly kind: 'personal' } | { readonly kind: 'channel'; readonly channelId: string };

/** The channels one approver alias is told on. */
export interface ApproverChannels {
  /** Name of the app setting holding the Teams Workflows webhook URL. */
  readonly teams?: string;
  readonly email: readonly string[];
  /** The Teams bot's approval cards (Approve and Deny in Teams); absent: no bot cards for this alias. */
  readonly bot?: BotTarget;
}

export interface NotificationPolicy {
  /** Per approver alias. */
  readonly approvers: Readonly<Record<string, ApproverChannels>>;
  readonly reminders: boolean;
  readonly expiryWarning: string;
  readonly expiryWarningMs: number;
  readonly longDuration: string;
  readonly longDurationMs: number;
}

export interface PolicyIssue {
  /** Location in the document, e.g. `eligibility[0].maxDuration`; empty for the document itself. */
  readonly path: string;
  readonly line?: number;
  readonly column?: number;
  /** The id of the eligibility rule the problem is in, when it is in one. */
  readonly rule?: string;
  readonly message: string;
}

export class PolicyError extends Error {
  readonly issues: readonly PolicyIssue[];
  readonly sourceName: string;

  constructor(sourceName: string, issues: readonly PolicyIssue[]) {
    const lines = issues.map((i) => {
      const where = i.line !== undefined ? `${sourceName}:${i.line}:${i.column ?? 1}` : sourceName;
      return `  ${where} ${i.path || '(document)'}${i.rule !== undefined ? ` (rule '${i.rule}')` : ''} ${i.message}`;
    });
    super(`Invalid policy ${sourceName} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'PolicyError';
    this.issues = issues;
    this.sourceName = sourceName;
  }
}
