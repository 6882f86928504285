/**
 * JSON Schemas (draft 2020-12) of every event the service publishes and of the submission it
 * accepts. docs/events/{type}.schema.json are generated from these (`eventSchemaJson(type)`); a unit
 * test keeps them identical, and tests validate built and received events against them.
 */
import { AZURE_RBAC_PLANE } from './azureRbac';
import { DRIFT_ACTIONS, DRIFT_KINDS } from './drift';
import { EVIDENCE_EVENT_TYPES, HSM_PLANE, RECONCILIATION_EVENT_TYPES, REJECTED_EVENT_TYPE, REQUEST_EVENT_TYPES, SUBMIT_EVENT_TYPE, type OutboundEventType } from './events';
import type { RequestStatus } from './lifecycle';

const GUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const REQUEST_SUBJECT_PATTERN = '^/hsms/[^/]+/requests/[0-9a-f-]{36}$';
const HSM_SUBJECT_PATTERN = '^/hsms/[^/]+$';

type Schema = Record<string, unknown>;

const text = (description: string): Schema => ({ type: 'string', description });
const guid = (description: string): Schema => ({ type: 'string', pattern: GUID_PATTERN, description });
const instant = (description: string): Schema => ({ type: 'string', format: 'date-time', description });

function envelope(type: string, description: string, subject: Schema, data: Schema): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://github.com/hsm-access-governor/hsm-access-governor/docs/events/${type}.schema.json`,
    title: type,
    description,
    type: 'object',
    required: ['specversion', 'id', 'source', 'type', 'subject', 'time', 'data'],
    // CloudEvents extension attributes (traceparent, ...) may be added on the way.
    properties: {
      specversion: { const: '1.0' },
      id: { type: 'string', minLength: 1, description: 'Stable: the same change always has the same id. De-duplicate by source and id.' },
      source: { type: 'string', minLength: 1, description: 'The publishing service instance (EVENT_SOURCE), e.g. /hsm-access-governor/contoso-hsm.' },
      type: { const: type },
      subject: subject,
      time: instant('When the change happened (not when it was published).'),
      datacontenttype: { const: 'application/json' },
      data,
    },
  };
}

const requestSubject = { type: 'string', pattern: REQUEST_SUBJECT_PATTERN, description: '/hsms/{hsm}/requests/{requestId}' };
const hsmSubject = { type: 'string', pattern: HSM_SUBJECT_PATTERN, description: '/hsms/{hsm}' };

/** Fields more than one event's data carries. */
const HSM_SCOPE = text("'/', '/keys' or '/keys/{name}'.");
const ROLE_ID = text('Role definition id.');
const RUN_ID = text('The reconciliation run (GET /api/reconcile/reports/{runId}).');
const RUN_MODE: Schema = { enum: ['plan', 'apply'] };

const LIFECYCLE: Record<keyof typeof REQUEST_EVENT_TYPES, { status: RequestStatus; from: (RequestStatus | null)[]; description: string; requires?: string[] }> = {
  Submitted: { status: 'Pending', from: [null], description: 'A request was submitted (over HTTP or as an event) and waits for approval, or is approved at once by a rule that needs none (an Approved event follows).' },
  Approved: { status: 'Approved', from: ['Pending'], description: 'The request has all the approvals it needs; the grant is being put in place.' },
  Denied: { status: 'Denied', from: ['Pending'], description: 'An approver denied the request.' },
  Cancelled: { status: 'Cancelled', from: ['Pending'], description: 'The requester cancelled the request before it was decided.' },
  TimedOut: { status: 'TimedOut', from: ['Pending'], description: 'Nobody decided within the pending lifetime.' },
  Granted: { status: 'Active', from: ['Approved'], description: 'The role assignment is in place until expiresAt.', requires: ['grantedAt', 'expiresAt', 'assignmentName'] },
  Extended: { status: 'Active', from: ['Active'], description: 'The grant was extended: expiresAt is the new end.', requires: ['grantedAt', 'expiresAt', 'assignmentName'] },
  Expired: { status: 'Expired', from: ['Active'], description: 'The grant reached expiresAt and its assignment was removed.' },
  Revoked: { status: 'Revoked', from: ['Active', 'Approved'], description: 'The grant was ended early and its assignment removed.' },
  Failed: { status: 'Failed', from: ['Approved', 'Active', 'Expired', 'Revoked'], description: 'The HSM refused the assignment, or it could not be removed: someone must look.' },
};

function lifecycleData(status: RequestStatus, from: (RequestStatus | null)[], requires: string[] = []): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['requestId', 'hsm', 'status', 'previousStatus', 'actor', 'reason', 'role', 'roleId', 'scope', 'principalId', 'requestedBy', 'ruleId', 'duration', 'justification', 'approvalsRequired', ...requires],
    properties: {
      requestId: guid('The request (GET /api/requests/{requestId}).'),
      hsm: text("The HSM's name in the policy."),
      status: { const: status, description: 'The status after this change.' },
      previousStatus: from.length === 1 ? { const: from[0], description: 'The status before this change (null for a new request).' } : { enum: from, description: 'The status before this change.' },
      actor: text("Who made the change: an object id, or 'system'."),
      reason: text('Why, as recorded in the audit trail.'),
      role: text('Role name, e.g. Managed HSM Crypto User.'),
      roleId: ROLE_ID,
      scope: HSM_SCOPE,
      principalId: guid('The grantee.'),
      requestedBy: guid('Who asked.'),
      ruleId: text('The eligibility rule the request matched.'),
      duration: text('ISO 8601 duration of the grant.'),
      justification: text('As given by the requester (may be empty).'),
      approvalsRequired: { type: 'integer', minimum: 0 },
      ticket: text('Change or incident ticket, when given.'),
      grantedAt: instant('When the assignment was in place.'),
      expiresAt: instant('When the grant ends (after this change).'),
      assignmentName: guid("The role assignment's deterministic name on the HSM."),
    },
  };
}

const DRIFT_DATA: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['runId', 'hsm', 'mode', 'plane', 'driftId', 'kind', 'principalId', 'role', 'roleId', 'scope', 'assignmentName', 'reason', 'action'],
  properties: {
    runId: RUN_ID,
    hsm: text("The HSM's name in the policy (the run's HSM, for the management plane's items too)."),
    mode: RUN_MODE,
    plane: { enum: [HSM_PLANE, AZURE_RBAC_PLANE], description: "'hsm': the HSM's local RBAC; 'azure-rbac': Azure role assignments on the governed ARM scopes." },
    driftId: text('The drift item, stable across runs for the same finding.'),
    kind: { enum: [...DRIFT_KINDS] },
    principalId: text('Object id of the assignment\'s principal.'),
    role: text('Role name, or the role definition id when the role is unknown.'),
    roleId: ROLE_ID,
    scope: text("'/', '/keys' or '/keys/{name}' on the HSM; an ARM resource id for the management plane."),
    assignmentName: text('The role assignment (empty for a missing one not created yet).'),
    reason: text('Why it is drift.'),
    action: { enum: [...DRIFT_ACTIONS], description: 'What an enforcing apply does (Detected) or did (Repaired).' },
  },
};

const EVIDENCE_LINE_PROPERTIES: Record<string, Schema> = {
  hsm: text("The HSM's name in the policy."),
  principalId: text('Object id of the caller, as the HSM logged it.'),
  operation: text('The operationName of the AuditEvent record, e.g. KeySign or a role-assignment call.'),
  status: { type: 'integer', description: 'The httpStatusCode of the AuditEvent record.' },
  at: instant('The time of the AuditEvent record.'),
  correlationId: text('The correlationId of the AuditEvent record.'),
  logBlob: text('The PT1H.json blob the record is in.'),
  logOffset: { type: 'integer', minimum: 0, description: 'Where the record\'s line starts in the blob (bytes).' },
  key: text('The key, for key operations.'),
  scope: HSM_SCOPE,
};
const EVIDENCE_LINE_REQUIRED = ['hsm', 'principalId', 'operation', 'status', 'at', 'correlationId', 'logBlob', 'logOffset'];

const SCHEMAS: Record<OutboundEventType | typeof SUBMIT_EVENT_TYPE, Schema> = {
  ...(Object.fromEntries(
    (Object.keys(LIFECYCLE) as (keyof typeof LIFECYCLE)[]).map((name) => {
      const { status, from, description, requires } = LIFECYCLE[name];
      return [REQUEST_EVENT_TYPES[name], envelope(REQUEST_EVENT_TYPES[name], description, requestSubject, lifecycleData(status, from, requires))];
    }),
  ) as Record<(typeof REQUEST_EVENT_TYPES)[keyof typeof REQUEST_EVENT_TYPES], Schema>),
  [REJECTED_EVENT_TYPE]: envelope(REJECTED_EVENT_TYPE, 'A submission that arrived as an event was refused; no request exists. The code and detail are those the HTTP API gives for the same input.', requestSubject, {
    type: 'object',
    additionalProperties: false,
    required: ['requestId', 'hsm', 'code', 'status', 'detail', 'submissionSource', 'submissionId', 'submitted'],
    properties: {
      requestId: guid('A random id naming this rejection; no request was made (a redelivery of the same event is not rejected again).'),
      hsm: text('The HSM the submission named, or the default HSM.'),
      code: text('Stable problem code, e.g. not-eligible, untrusted-source, unknown-requester, invalid-body.'),
      status: { type: 'integer', minimum: 400, maximum: 499, description: 'The HTTP status the API would have answered.' },
      detail: text('Human-readable reason.'),
      submissionSource: text('The inbound event\'s source.'),
      submissionId: text('The inbound event\'s id.'),
      submitted: { type: 'object', additionalProperties: { type: 'string' }, description: 'The string fields of the submission as far as they could be read.' },
    },
  }),
  [RECONCILIATION_EVENT_TYPES.Completed]: envelope(RECONCILIATION_EVENT_TYPES.Completed, 'A reconciliation run finished.', hsmSubject, {
    type: 'object',
    additionalProperties: false,
    required: ['runId', 'hsm', 'mode', 'counts', 'actions'],
    properties: {
      runId: RUN_ID,
      hsm: text("The HSM's name in the policy."),
      mode: RUN_MODE,
      counts: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 }, description: 'Findings by drift kind over both planes, and what an apply did (created, removed, skipped, failed, held).' },
      actions: { type: 'integer', minimum: 0, description: 'Actions an apply took, on both planes.' },
    },
  }),
  [RECONCILIATION_EVENT_TYPES.DriftDetected]: envelope(RECONCILIATION_EVENT_TYPES.DriftDetected, 'A reconciliation run found an assignment that differs from the policy and the running grants.', hsmSubject, DRIFT_DATA),
  [RECONCILIATION_EVENT_TYPES.DriftRepaired]: envelope(RECONCILIATION_EVENT_TYPES.DriftRepaired, 'An enforcing reconciliation run repaired a drift item.', hsmSubject, DRIFT_DATA),
  [EVIDENCE_EVENT_TYPES.AssignmentChanged]: envelope(EVIDENCE_EVENT_TYPES.AssignmentChanged, "The HSM's audit log shows a role assignment written or deleted by someone other than the service: the HSM is reconciled at once (a HsmAccess.Drift.Detected.v1 per finding follows).", hsmSubject, {
    type: 'object', additionalProperties: false, required: [...EVIDENCE_LINE_REQUIRED, 'scope'], properties: EVIDENCE_LINE_PROPERTIES,
  }),
  [EVIDENCE_EVENT_TYPES.UseOutsideGrant]: envelope(EVIDENCE_EVENT_TYPES.UseOutsideGrant, "The strongest drift signal: the HSM's audit log shows a key operation by a principal that held neither standing access nor a grant at that moment.", hsmSubject, {
    type: 'object', additionalProperties: false, required: [...EVIDENCE_LINE_REQUIRED, 'key'], properties: EVIDENCE_LINE_PROPERTIES,
  }),
  [EVIDENCE_EVENT_TYPES.RefusedAttempts]: envelope(EVIDENCE_EVENT_TYPES.RefusedAttempts, 'A principal was refused (403) on a key again and again; published once per principal and key.', hsmSubject, {
    type: 'object', additionalProperties: false, required: ['hsm', 'principalId', 'key', 'count'],
    properties: {
      hsm: text("The HSM's name in the policy."),
      principalId: text('Object id of the refused caller.'),
      key: text('The key.'),
      count: { type: 'integer', minimum: 1, description: 'Refused attempts seen so far.' },
    },
  }),
  [SUBMIT_EVENT_TYPE]: {
    ...envelope(SUBMIT_EVENT_TYPE, 'Inbound: another system (an ITSM tool, a pipeline) asks for access on behalf of a requester. Accepted only from sources the policy trusts.', { type: 'string', description: 'Free; not used.' }, {
      type: 'object',
      additionalProperties: false,
      required: ['requester', 'role', 'scope'],
      properties: {
        requester: { type: 'string', minLength: 1, description: "Who asks: an object id, a principal alias of the policy, or a principal's email/UPN. Must be eligible exactly as over HTTP." },
        principalId: text('The grantee (object id); default the requester.'),
        role: text("Role name, short alias or id, e.g. 'Crypto User'."),
        scope: HSM_SCOPE,
        duration: text("ISO 8601 duration; default the rule's."),
        justification: text('Why.'),
        ticket: text('Change or incident ticket.'),
        hsm: text("The HSM's name in the policy; default the policy's default HSM."),
      },
    }),
    required: ['specversion', 'id', 'source', 'type', 'data'],
  },
};

export const EVENT_SCHEMA_TYPES = Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[];

export function eventSchema(type: keyof typeof SCHEMAS): Schema {
  return SCHEMAS[type];
}

/** The text of docs/events/{type}.schema.json. */
export function eventSchemaJson(type: keyof typeof SCHEMAS): string {
  return JSON.stringify(SCHEMAS[type], null, 2) + '\n';
}
