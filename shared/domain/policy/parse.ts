/**
 * parsePolicy: YAML text → validated, resolved Policy, or a PolicyError that says exactly where the
 * text is wrong (line, column, path). Pure: the caller reads the file.
 */
import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { AZURE_RBAC_PLANE, armScopeWithin, normalizeArmScope, resolveAzureRole } from '../azureRbac';
import { invalidDurationDetail, parseIsoDuration } from '../duration';
import { BUILT_IN_ROLES, closestRole, resolveRole, type RoleInfo } from '../roles';
import { normalizeScope, normalizeScopePattern } from '../scope';
import { POLICY_SCHEMA } from './schema';
import {
  PolicyError,
  type EligibilityRule,
  type ForbiddenPrincipal,
  type HsmDefinition,
  type Policy,
  type PolicyIssue,
  type PrincipalDefinition,
  type PrincipalType,
  type ProtectedAssignment,
  type ReconcileSettings,
  type ApproverChannels,
  type BotTarget,
  type NotificationPolicy,
  type StandingAssignment,
  type AzureProtectedAssignment,
  type AzureRbacPolicy,
  type AzureStandingAssignment,
} from './types';

type Segment = string | number;

// The schema is fixed and checked against the meta-schema by test/unit/schema-meta.test.ts: compiling
// the meta-schema at every cold start would cost more than the rest of the policy check.
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, validateSchema: false });
addFormats(ajv);
const validate = ajv.compile(POLICY_SCHEMA);

/** `eligibility[0].maxDuration` from ['eligibility', 0, 'maxDuration']. */
function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function pointerToSegments(pointer: string): Segment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The source offset of the node at `segments` (or of its key when `atKey`), falling back to the nearest ancestor. */
function offsetOf(doc: Document, segments: readonly Segment[], atKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = (node as Node | null)?.range?.[0];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      const keyNode = pair.key as Node;
      if (last && atKey && keyNode.range) return keyNode.range[0];
      const value = pair.value as Node | null;
      if (value?.range) best = value.range[0];
      else if (keyNode.range) best = keyNode.range[0];
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return best;
      if (item.range) best = item.range[0];
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

/** The id of the eligibility rule a path is inside (either plane's), as the document spells it. */
function ruleIdAt(data: unknown, segments: readonly Segment[]): string | undefined {
  const [first, second, third] = segments;
  const rules = first === 'eligibility' ? { list: (data as { eligibility?: unknown })?.eligibility, index: second }
    : first === 'azureRbac' && second === 'eligibility' ? { list: (data as { azureRbac?: { eligibility?: unknown } })?.azureRbac?.eligibility, index: third }
      : undefined;
  if (!rules || typeof rules.index !== 'number' || !Array.isArray(rules.list)) return undefined;
  const id = (rules.list[rules.index] as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

class IssueCollector {
  readonly issues: PolicyIssue[] = [];
  /** The document as data, once read: issues inside a rule name the rule by its id. */
  data: unknown;
  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  /** A collector of the same document that starts with no issues. */
  fork(): IssueCollector {
    const copy = new IssueCollector(this.doc, this.lineCounter);
    copy.data = this.data;
    return copy;
  }

  add(segments: readonly Segment[], message: string, atKey = false): void {
    const offset = offsetOf(this.doc, segments, atKey);
    const pos = offset !== undefined ? this.lineCounter.linePos(offset) : undefined;
    const rule = ruleIdAt(this.data, segments);
    this.issues.push({ path: formatPath(segments), ...(pos ? { line: pos.line, column: pos.col } : {}), ...(rule !== undefined ? { rule } : {}), message });
  }
}

function describeAjvError(error: ErrorObject): { segments: Segment[]; message: string; atKey: boolean } {
  const segments = pointerToSegments(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return { segments: [...segments, String(params.additionalProperty)], message: 'is not a known property', atKey: true };
    case 'required':
      return { segments, message: `is missing required property '${String(params.missingProperty)}'`, atKey: false };
    case 'propertyNames':
      return { segments: [...segments, String(params.propertyName)], message: 'is not a valid name', atKey: true };
    case 'enum':
      return { segments, message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, atKey: false };
    case 'const':
      return { segments, message: `must be ${JSON.stringify(params.allowedValue)}`, atKey: false };
    case 'pattern': {
      const where = segments[segments.length - 1];
      if (typeof where === 'string' && /duration|period|warning|lifetime/i.test(where)) {
        return { segments, message: invalidDurationDetail(error.data), atKey: false };
      }
      return { segments, message: `must match ${String(params.pattern)}`, atKey: false };
    }
    default:
      return { segments, message: error.message ?? 'is invalid', atKey: false };
  }
}

/** Collapses the branch-by-branch noise of oneOf/anyOf into the single "must match one of" error. */
function reduceAjvErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const combinators = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  const kept = errors.filter(
    (e) => !combinators.some((c) => c !== e && e.schemaPath.startsWith(`${c.schemaPath}/`) && e.instancePath === c.instancePath),
  );
  // Errors from a nested branch of a oneOf whose other branch failed on type are noise too.
  return kept.filter((e) => !(e.keyword === 'if'));
}

function combinatorMessage(path: readonly Segment[]): string | undefined {
  const last = path[path.length - 1];
  if (last === 'approval') return "must be 'none' or an object with 'approvers' and 'count'";
  if (last === 'for') return "must be 'self' or a list of principal aliases";
  return undefined;
}

interface RawPrincipal { objectId: string; type: PrincipalType; displayName?: string; members?: string[]; email?: string }
interface RawRule {
  id: string; description?: string; requesters: string[]; for: 'self' | string[]; roles: string[]; scopes: string[];
  defaultDuration?: string; maxDuration: string; minDuration?: string; requireJustification?: boolean; requireTicket?: boolean;
  ticketPattern?: string; approval: 'none' | { approvers: string[]; count: number }; hsm?: string;
}
interface RawPolicy {
  version: 1;
  hsms: Array<{ name: string; url: string; default?: boolean }>;
  principals: Record<string, RawPrincipal>;
  customRoles?: Array<{ name: string; id: string; alias?: string; canWriteRoleAssignments?: boolean }>;
  eligibility: RawRule[];
  standing?: Array<{ principal: string; role: string; scope: string; hsm?: string; repair?: boolean }>;
  protected?: Array<{ principal: string; role?: string; scope?: string; hsm?: string; reason?: string }>;
  forbidden?: Array<{ principal: string; reason?: string }>;
  defaults?: { pendingLifetime?: string; minDuration?: string; privilegedRoles?: string[]; privilegedMinApprovers?: number };
  reconcile?: { mode?: 'report' | 'enforce'; maxRemovalsPerRun?: number; keyRotationPeriod?: string; keyExpiryWarning?: string };
  notifications?: { approvers?: Record<string, { teams?: string; email?: string[]; bot?: 'personal' | { channel: string } }>; reminders?: boolean; expiryWarning?: string; longDuration?: string };
  azureRbac?: {
    mode?: 'assignment' | 'pim';
    scopes: string[];
    standing?: Array<{ principal: string; role: string; scope: string; repair?: boolean }>;
    protected?: Array<{ principal: string; role?: string; scope?: string; reason?: string }>;
    eligibility?: RawRule[];
  };
  events?: { trustedSources?: string[] };
}

/**
 * Parses and validates a policy. Throws PolicyError listing every problem found
 * (YAML syntax, then schema, then semantic checks).
 */
export function parsePolicy(yamlText: string, sourceName: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      sourceName,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const collector = new IssueCollector(doc, lineCounter);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new PolicyError(sourceName, [{ path: '', message: `YAML: ${(err as Error).message}` }]);
  }
  collector.data = data;
  if (!validate(data)) {
    for (const error of reduceAjvErrors(validate.errors ?? [])) {
      const described = describeAjvError(error);
      const message = error.keyword === 'oneOf' || error.keyword === 'anyOf' ? (combinatorMessage(described.segments) ?? described.message) : described.message;
      collector.add(described.segments, message, described.atKey);
    }
    throw new PolicyError(sourceName, byLine([...collector.issues, ...semanticIssuesDespite(collector, data, sourceName)]));
  }
  const policy = resolvePolicy(data as unknown as RawPolicy, sourceName, collector);
  if (collector.issues.length > 0) throw new PolicyError(sourceName, byLine(collector.issues));
  return policy;
}

/** Whether one path is the other or inside it (`a.b` holds `a.b.c` and `a.b[0]`). */
function overlaps(a: string, b: string): boolean {
  const within = (inner: string, outer: string): boolean => outer === '' || inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  return within(a, b) || within(b, a);
}

/**
 * The semantic problems of a document that also breaks the schema, so that one run reports them
 * all: those about a part the schema already faults are left out, and a shape too broken to read
 * further yields none.
 */
function semanticIssuesDespite(schemaIssues: IssueCollector, data: unknown, sourceName: string): PolicyIssue[] {
  const faulted = schemaIssues.issues.map((i) => i.path);
  const semantic = schemaIssues.fork();
  try {
    resolvePolicy(data as RawPolicy, sourceName, semantic);
  } catch {
    // The schema errors say what to fix first.
  }
  return semantic.issues.filter((issue) => !faulted.some((path) => overlaps(issue.path, path)));
}

function resolvePolicy(raw: RawPolicy, sourceName: string, issues: IssueCollector): Policy {
  // HSMs
  const hsms: HsmDefinition[] = [];
  raw.hsms.forEach((h, i) => {
    if (hsms.some((x) => x.name.toLowerCase() === h.name.toLowerCase())) issues.add(['hsms', i, 'name'], `duplicate HSM name '${h.name}'`);
    hsms.push({ name: h.name, url: h.url, default: h.default === true });
  });
  const defaults = hsms.filter((h) => h.default);
  if (defaults.length > 1) issues.add(['hsms'], 'more than one HSM is marked default');
  const defaultHsm = defaults[0]?.name ?? (hsms.length === 1 ? hsms[0]?.name : undefined);
  const hsmExists = (name: string): boolean => hsms.some((h) => h.name === name);
  const checkHsm = (name: string | undefined, path: Segment[]): void => {
    if (name !== undefined && !hsmExists(name)) issues.add(path, `unknown HSM '${name}' (known: ${hsms.map((h) => h.name).join(', ')})`);
  };

  // Principals
  const principals: Record<string, PrincipalDefinition> = {};
  const byObjectId = new Map<string, string>();
  for (const [alias, p] of Object.entries(raw.principals)) {
    const objectId = p.objectId.toLowerCase();
    const other = byObjectId.get(objectId);
    if (other) issues.add(['principals', alias, 'objectId'], `object id already used by principal '${other}'`);
    byObjectId.set(objectId, alias);
    if (p.members && p.type !== 'Group') issues.add(['principals', alias, 'members'], 'only a Group can have members');
    principals[alias] = { alias, objectId, type: p.type, ...(p.displayName !== undefined ? { displayName: p.displayName } : {}), members: p.members ?? [], ...(p.email !== undefined ? { email: p.email } : {}) };
  }
  for (const [alias, p] of Object.entries(principals)) {
    p.members.forEach((m, i) => {
      if (!principals[m]) issues.add(['principals', alias, 'members', i], `unknown principal '${m}'`);
    });
  }
  const known = (alias: string, path: Segment[]): PrincipalDefinition | undefined => {
    const p = principals[alias];
    if (!p) issues.add(path, `unknown principal '${alias}' (not declared under principals)`);
    return p;
  };

  // Roles
  const customRoles: RoleInfo[] = [];
  (raw.customRoles ?? []).forEach((r, i) => {
    const id = r.id.toLowerCase();
    if (BUILT_IN_ROLES.some((b) => b.id === id)) issues.add(['customRoles', i, 'id'], 'is the id of a built-in role');
    if (resolveRole(r.name, customRoles) || (r.alias && resolveRole(r.alias, customRoles))) issues.add(['customRoles', i, 'name'], `role name '${r.name}' is already defined`);
    customRoles.push({ id, name: r.name, ...(r.alias ? { alias: r.alias } : {}), canWriteRoleAssignments: r.canWriteRoleAssignments === true, builtIn: false });
  });
  const role = (ref: string, path: Segment[]): RoleInfo | undefined => {
    const found = resolveRole(ref, customRoles);
    if (!found) {
      const guess = closestRole(ref, [...BUILT_IN_ROLES, ...customRoles]);
      issues.add(path, `unknown role '${ref}'${guess ? `: did you mean '${guess.alias ?? guess.name}'?` : ''}`);
    }
    return found;
  };

  // Defaults
  const d = raw.defaults ?? {};
  const pendingLifetime = d.pendingLifetime ?? 'PT24H';
  const minDuration = d.minDuration ?? 'PT1M';
  const pendingLifetimeMs = durationOrIssue(pendingLifetime, ['defaults', 'pendingLifetime'], issues);
  const minDurationMs = durationOrIssue(minDuration, ['defaults', 'minDuration'], issues);
  if (pendingLifetimeMs === 0) issues.add(['defaults', 'pendingLifetime'], 'must be longer than zero');
  const privilegedRoleIds = d.privilegedRoles
    ? d.privilegedRoles.map((r, i) => role(r, ['defaults', 'privilegedRoles', i])?.id).filter((x): x is string => x !== undefined)
    : [...BUILT_IN_ROLES, ...customRoles].filter((r) => r.canWriteRoleAssignments).map((r) => r.id);
  const privilegedMinApprovers = d.privilegedMinApprovers ?? 2;

  // Forbidden
  const forbidden: ForbiddenPrincipal[] = [];
  (raw.forbidden ?? []).forEach((f, i) => {
    const p = known(f.principal, ['forbidden', i, 'principal']);
    if (!p) return;
    forbidden.push({
      principal: p.alias, principalId: p.objectId, type: p.type,
      memberObjectIds: p.members.map((m) => principals[m]?.objectId).filter((x): x is string => !!x),
      ...(f.reason ? { reason: f.reason } : {}),
    });
  });
  const forbiddenIds = new Set(forbidden.flatMap((f) => [f.principalId, ...f.memberObjectIds]));

  // Eligibility: the data plane's rules, then the management plane's, resolved alike.
  const eligibility: EligibilityRule[] = [];
  const azureRules = (raw.azureRbac?.eligibility ?? []).map((r, i) => ({ r, i, section: ['azureRbac', 'eligibility'] as Segment[], azure: true }));
  [...raw.eligibility.map((r, i) => ({ r, i, section: ['eligibility'] as Segment[], azure: false })), ...azureRules].forEach(({ r, i, section, azure }) => {
    const at = (...rest: Segment[]): Segment[] => [...section, i, ...rest];
    if (eligibility.some((e) => e.id === r.id)) issues.add(at('id'), `duplicate rule id '${r.id}'`);
    const requesters = r.requesters.map((a, j) => known(a, at('requesters', j))).filter((p): p is PrincipalDefinition => !!p);
    const forList = r.for === 'self' ? ['self'] : r.for;
    const targets: PrincipalDefinition[] = [];
    forList.forEach((a, j) => {
      if (a === 'self') return;
      const p = known(a, r.for === 'self' ? at('for') : at('for', j));
      if (!p) return;
      if (p.type === 'Group') {
        issues.add(at('for', j), `'${a}' is a group: a rule grants access to users or service principals only, never to a group (its members would approve a grant to themselves); name the members instead${p.members.length > 0 ? ` (${p.members.join(', ')})` : ''}`);
      }
      // A forbidden principal must not be granted anything by the policy itself, on either plane.
      if (forbiddenIds.has(p.objectId)) issues.add(r.for === 'self' ? at('for') : at('for', j), `'${a}' is forbidden from holding any ${azure ? 'management-plane' : 'data-plane'} role`);
      targets.push(p);
    });
    const roles = r.roles.map((x, j) => (azure ? azureRoleOrIssue(x, at('roles', j), issues) : role(x, at('roles', j)))).filter((x): x is RoleInfo => !!x);
    const scopes: string[] = [];
    r.scopes.forEach((s, j) => {
      const n = azure ? governedArmScope(s, raw.azureRbac?.scopes ?? [], at('scopes', j), issues) : normalizeScopePattern(s);
      if (n.ok) scopes.push(n.scope);
      else if (n.detail) issues.add(at('scopes', j), n.detail);
    });
    if (azure && r.hsm !== undefined) issues.add(at('hsm'), 'a management-plane rule names no HSM');
    const maxDurationMs = durationOrIssue(r.maxDuration, at('maxDuration'), issues);
    const defaultDuration = r.defaultDuration ?? r.maxDuration;
    const defaultDurationMs = durationOrIssue(defaultDuration, at(r.defaultDuration ? 'defaultDuration' : 'maxDuration'), issues);
    const ruleMin = r.minDuration ?? minDuration;
    const ruleMinMs = r.minDuration ? durationOrIssue(r.minDuration, at('minDuration'), issues) : minDurationMs;
    if (maxDurationMs < defaultDurationMs) issues.add(at('maxDuration'), `maxDuration ${r.maxDuration} is shorter than defaultDuration ${defaultDuration}`);
    if (ruleMinMs > maxDurationMs) issues.add(at(r.minDuration ? 'minDuration' : 'maxDuration'), `minDuration ${ruleMin} is longer than maxDuration ${r.maxDuration}`);
    else if (ruleMinMs > defaultDurationMs) issues.add(at('defaultDuration'), `defaultDuration ${defaultDuration} is shorter than minDuration ${ruleMin}`);
    if (r.ticketPattern !== undefined) {
      try {
        new RegExp(r.ticketPattern);
      } catch (err) {
        issues.add(at('ticketPattern'), `is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    let approval: EligibilityRule['approval'];
    if (r.approval === 'none') {
      approval = { approvers: [], approverObjectIds: [], count: 0 };
    } else {
      const approvers = r.approval.approvers.map((a, j) => known(a, at('approval', 'approvers', j))).filter((p): p is PrincipalDefinition => !!p);
      if (r.approval.count > 0 && r.approval.approvers.length === 0) issues.add(at('approval', 'approvers'), `count is ${r.approval.count} but no approvers are named`);
      if (r.approval.count === 0 && r.approval.approvers.length > 0) issues.add(at('approval', 'count'), "count is 0: write 'approval: none' for rules without approval");
      const userApprovers = approvers.filter((p) => p.type !== 'Group');
      if (approvers.length > 0 && userApprovers.length === approvers.length && userApprovers.length < r.approval.count) {
        issues.add(at('approval', 'count'), `needs ${r.approval.count} distinct approvers but only ${userApprovers.length} are named`);
      }
      approval = { approvers: r.approval.approvers, approverObjectIds: approvers.map((p) => p.objectId), count: r.approval.count };
    }
    const isPrivileged = (x: RoleInfo): boolean => privilegedRoleIds.includes(x.id) || (azure && x.canWriteRoleAssignments);
    const privileged = roles.some(isPrivileged);
    if (privileged && approval.count < privilegedMinApprovers) {
      const names = roles.filter(isPrivileged).map((x) => x.name).join(', ');
      issues.add(at('approval'), `grants privileged role ${names}: needs at least ${privilegedMinApprovers} approvers (defaults.privilegedMinApprovers), has ${approval.count}`);
    }
    if (!azure) checkHsm(r.hsm, at('hsm'));
    eligibility.push({
      id: r.id,
      ...(r.description !== undefined ? { description: r.description } : {}),
      requesters: r.requesters,
      requesterObjectIds: requesters.map((p) => p.objectId),
      allowSelf: forList.includes('self'),
      targets: targets.map((p) => p.alias),
      targetObjectIds: targets.map((p) => p.objectId),
      roles,
      scopes,
      defaultDuration,
      defaultDurationMs,
      maxDuration: r.maxDuration,
      maxDurationMs,
      minDurationMs: ruleMinMs,
      requireJustification: r.requireJustification ?? true,
      requireTicket: r.requireTicket ?? false,
      ...(r.ticketPattern !== undefined ? { ticketPattern: r.ticketPattern } : {}),
      approval,
      ...(r.hsm !== undefined ? { hsm: r.hsm } : {}),
      privileged,
      ...(azure ? { plane: AZURE_RBAC_PLANE } : {}),
    });
  });

  // Standing
  const standing: StandingAssignment[] = [];
  (raw.standing ?? []).forEach((s, i) => {
    const p = known(s.principal, ['standing', i, 'principal']);
    const r = role(s.role, ['standing', i, 'role']);
    const scope = scopeOrIssue(s.scope, ['standing', i, 'scope'], issues);
    checkHsm(s.hsm, ['standing', i, 'hsm']);
    const hsm = s.hsm ?? defaultHsm;
    if (hsm === undefined) issues.add(['standing', i], 'names no hsm and the policy has no default HSM');
    if (p && r && scope && hsm) standing.push({ principal: p.alias, principalId: p.objectId, role: r, scope, hsm, repair: s.repair ?? true });
  });

  // Protected
  const protectedList: ProtectedAssignment[] = [];
  (raw.protected ?? []).forEach((s, i) => {
    const p = known(s.principal, ['protected', i, 'principal']);
    const r = s.role !== undefined ? role(s.role, ['protected', i, 'role']) : undefined;
    const scope = s.scope !== undefined ? scopeOrIssue(s.scope, ['protected', i, 'scope'], issues) : undefined;
    checkHsm(s.hsm, ['protected', i, 'hsm']);
    if (p) {
      protectedList.push({
        principal: p.alias, principalId: p.objectId,
        ...(r ? { role: r } : {}), ...(scope ? { scope } : {}), ...(s.hsm ? { hsm: s.hsm } : {}), ...(s.reason ? { reason: s.reason } : {}),
      });
    }
  });

  const keyRotationPeriod = raw.reconcile?.keyRotationPeriod ?? 'P365D';
  const keyExpiryWarning = raw.reconcile?.keyExpiryWarning ?? 'P30D';
  const reconcile: ReconcileSettings = {
    mode: raw.reconcile?.mode ?? 'report',
    maxRemovalsPerRun: raw.reconcile?.maxRemovalsPerRun ?? 10,
    keyRotationPeriod,
    keyRotationPeriodMs: parseIsoDuration(keyRotationPeriod) ?? 0,
    keyExpiryWarning,
    keyExpiryWarningMs: parseIsoDuration(keyExpiryWarning) ?? 0,
  };
  const notifications = raw.notifications ? resolveNotifications(raw.notifications, eligibility, known, issues) : undefined;
  const azureRbac = raw.azureRbac ? resolveAzureRbac(raw.azureRbac, known, issues) : undefined;
  standing.forEach((s, i) => {
    if (forbiddenIds.has(s.principalId)) issues.add(['standing', i, 'principal'], `'${s.principal}' is forbidden from holding any data-plane role`);
  });

  return {
    version: 1,
    sourceName,
    hsms,
    ...(defaultHsm !== undefined ? { defaultHsm } : {}),
    principals,
    customRoles,
    eligibility,
    standing,
    protected: protectedList,
    forbidden,
    defaults: { pendingLifetime, pendingLifetimeMs, minDuration, minDurationMs, privilegedRoleIds, privilegedMinApprovers },
    reconcile,
    ...(notifications ? { notifications } : {}),
    ...(azureRbac ? { azureRbac } : {}),
    ...(raw.events ? { events: { trustedSources: raw.events.trustedSources ?? [] } } : {}),
  };
}

function azureRoleOrIssue(ref: string, path: Segment[], issues: IssueCollector): RoleInfo | undefined {
  const found = resolveAzureRole(ref);
  if (!found) issues.add(path, `unknown Azure role '${ref}' (name a built-in role or give the role definition GUID)`);
  return found;
}

/** An ARM scope at or below one of the governed scopes; `detail` is empty when the problem is already reported. */
function governedArmScope(text: string, governed: readonly string[], path: Segment[], issues: IssueCollector): { ok: true; scope: string } | { ok: false; detail: string } {
  const n = normalizeArmScope(text);
  if (!n.ok) return n;
  const canonical = governed.map((g) => normalizeArmScope(g)).filter((g): g is { ok: true; scope: string } => g.ok).map((g) => g.scope);
  if (!canonical.some((g) => armScopeWithin(n.scope, g))) {
    issues.add(path, `'${n.scope}' is outside the governed scopes (azureRbac.scopes)`);
    return { ok: false, detail: '' };
  }
  return n;
}

/** The management plane: governed scopes, standing and protected Azure role assignments (its rules are resolved with the others). */
function resolveAzureRbac(
  raw: NonNullable<RawPolicy['azureRbac']>,
  known: (alias: string, path: Segment[]) => PrincipalDefinition | undefined,
  issues: IssueCollector,
): AzureRbacPolicy {
  const scopes: string[] = [];
  raw.scopes.forEach((text, i) => {
    const n = normalizeArmScope(text);
    if (!n.ok) issues.add(['azureRbac', 'scopes', i], n.detail);
    else if (scopes.some((s) => s.toLowerCase() === n.scope.toLowerCase())) issues.add(['azureRbac', 'scopes', i], `'${n.scope}' is listed twice`);
    else scopes.push(n.scope);
  });
  const scopeAt = (text: string, path: Segment[]): string | undefined => {
    const n = governedArmScope(text, scopes, path, issues);
    if (!n.ok && n.detail) issues.add(path, n.detail);
    return n.ok ? n.scope : undefined;
  };
  const standing: AzureStandingAssignment[] = [];
  (raw.standing ?? []).forEach((s, i) => {
    const at = (field: string): Segment[] => ['azureRbac', 'standing', i, field];
    const p = known(s.principal, at('principal'));
    const r = azureRoleOrIssue(s.role, at('role'), issues);
    const scope = scopeAt(s.scope, at('scope'));
    if (p && r && scope) standing.push({ principal: p.alias, principalId: p.objectId, principalType: p.type, role: r, scope, repair: s.repair ?? true });
  });
  const protectedList: AzureProtectedAssignment[] = [];
  (raw.protected ?? []).forEach((s, i) => {
    const at = (field: string): Segment[] => ['azureRbac', 'protected', i, field];
    const p = known(s.principal, at('principal'));
    const r = s.role !== undefined ? azureRoleOrIssue(s.role, at('role'), issues) : undefined;
    const scope = s.scope !== undefined ? scopeAt(s.scope, at('scope')) : undefined;
    if (p) protectedList.push({ principal: p.alias, principalId: p.objectId, ...(r ? { role: r } : {}), ...(scope ? { scope } : {}), ...(s.reason ? { reason: s.reason } : {}) });
  });
  return { mode: raw.mode ?? 'assignment', scopes, standing, protected: protectedList };
}

/** The notifications section: every alias it names is declared and approves in some rule. */
function resolveNotifications(
  raw: NonNullable<RawPolicy['notifications']>,
  eligibility: readonly EligibilityRule[],
  known: (alias: string, path: Segment[]) => PrincipalDefinition | undefined,
  issues: IssueCollector,
): NotificationPolicy {
  const approvers: Record<string, ApproverChannels> = {};
  for (const [alias, channels] of Object.entries(raw.approvers ?? {})) {
    if (!known(alias, ['notifications', 'approvers', alias])) continue;
    if (!eligibility.some((rule) => rule.approval.approvers.includes(alias))) {
      issues.add(['notifications', 'approvers', alias], `'${alias}' is not an approver of any rule`, true);
    }
    if (channels.teams === undefined && channels.email === undefined && channels.bot === undefined) issues.add(['notifications', 'approvers', alias], 'names no channel (teams, email or bot)');
    const bot: BotTarget | undefined = channels.bot === undefined ? undefined : channels.bot === 'personal' ? { kind: 'personal' } : { kind: 'channel', channelId: channels.bot.channel };
    approvers[alias] = { ...(channels.teams !== undefined ? { teams: channels.teams } : {}), email: channels.email ?? [], ...(bot ? { bot } : {}) };
  }
  const expiryWarning = raw.expiryWarning ?? 'PT15M';
  const longDuration = raw.longDuration ?? 'PT4H';
  return {
    approvers,
    reminders: raw.reminders ?? true,
    expiryWarning,
    expiryWarningMs: durationOrIssue(expiryWarning, ['notifications', 'expiryWarning'], issues),
    longDuration,
    longDurationMs: durationOrIssue(longDuration, ['notifications', 'longDuration'], issues),
  };
}

function byLine(issues: readonly PolicyIssue[]): PolicyIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function durationOrIssue(text: string, path: Segment[], issues: IssueCollector): number {
  const ms = parseIsoDuration(text);
  if (ms === undefined) {
    issues.add(path, invalidDurationDetail(text));
    return 0;
  }
  return ms;
}

function scopeOrIssue(text: string, path: Segment[], issues: IssueCollector): string | undefined {
  const n = normalizeScope(text);
  if (!n.ok) {
    issues.add(path, n.detail);
    return undefined;
  }
  return n.scope;
}

/** The principal declared for an object id (case-insensitive), if any. */
export function principalByObjectId(policy: Policy, objectId: string): PrincipalDefinition | undefined {
  const oid = objectId.toLowerCase();
  return Object.values(policy.principals).find((p) => p.objectId === oid);
}
