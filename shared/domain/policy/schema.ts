/**
 * JSON Schema (draft 2020-12) of the access policy YAML. docs/policy.schema.json is generated from
 * this constant (`JSON.stringify(POLICY_SCHEMA, null, 2) + '\n'`); a unit test keeps them identical.
 * The schema checks shape; parse.ts adds the checks a schema cannot express (aliases, roles, scopes,
 * duration ordering, approver counts).
 */

const DURATION_PATTERN = '^P(?!$)(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+([.,]\\d+)?S)?)?$';
const GUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** Principal aliases and rule ids. */
const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const SETTING_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
/** A Teams channel's conversation id. */
const CHANNEL_PATTERN = '^19:[A-Za-z0-9._@-]{1,200}@thread\\.(tacv2|skype)$';

/*
 * The list entries that name a principal are written once and filled in per plane: the data plane's
 * (HSM roles and scopes, an optional `hsm`) and the management plane's (`azureRbac`: Azure roles, ARM scopes).
 */

type Properties = Readonly<Record<string, object>>;

/** A closed object naming a principal (an alias, required) and then `properties`. */
function principalEntry(properties: Properties, required: readonly string[] = []) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['principal', ...required],
    properties: { principal: { $ref: '#/$defs/alias' }, ...properties },
  } as const;
}

/** A standing (permanent) assignment; `hsm` holds the data plane's HSM property, none on the management plane. */
function standingEntry(roleRef: string, scopeRef: string, hsm: Properties) {
  const repair = { type: 'boolean', default: true, description: 'Whether reconciliation re-creates it when missing.' };
  return principalEntry({ role: { $ref: roleRef }, scope: { $ref: scopeRef }, ...hsm, repair, description: { type: 'string' } }, ['role', 'scope']);
}

/** An assignment never touched: role and scope narrow it when given. */
function protectedEntry(roleRef: string, scopeRef: string, scopeOmitted: string, hsm: Properties) {
  return principalEntry({
    role: { $ref: roleRef, description: 'Omit to protect every role of the principal.' },
    scope: { $ref: scopeRef, description: scopeOmitted },
    ...hsm,
    reason: { type: 'string' },
  });
}

export const POLICY_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/hsm-access-governor/hsm-access-governor/docs/policy.schema.json',
  title: 'HSM access governor policy',
  description:
    'Who may ask for which Managed HSM data-plane role, on which scope, for how long, approved by whom; plus the standing (permanent), protected (never touched) and forbidden assignments.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'hsms', 'principals', 'eligibility'],
  properties: {
    $schema: { type: 'string', description: 'Optional: the schema location, for editors.' },
    version: { const: 1, description: 'Policy format version. Always 1.' },
    hsms: {
      title: 'Managed HSMs',
      description: 'The Managed HSMs this policy governs.',
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,62}$', description: 'Short name used in requests and in rules.' },
          url: { type: 'string', format: 'uri', pattern: '^https://', description: 'Data-plane endpoint, e.g. https://contoso.managedhsm.azure.net.' },
          default: { type: 'boolean', default: false, description: 'The HSM used when a request names none. At most one.' },
        },
      },
    },
    principals: {
      title: 'Principals',
      description: 'Aliases for Entra ID identities, used everywhere else in the policy.',
      type: 'object',
      propertyNames: { pattern: NAME_PATTERN, not: { const: 'self' } },
      additionalProperties: { $ref: '#/$defs/principal' },
    },
    customRoles: {
      title: 'Custom role definitions',
      description: 'Custom data-plane roles the rules may name, in addition to the built-in roles.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'id'],
        properties: {
          name: { type: 'string', minLength: 1 },
          id: { type: 'string', pattern: GUID_PATTERN, description: 'Role definition name (GUID).' },
          alias: { type: 'string', minLength: 1 },
          canWriteRoleAssignments: { type: 'boolean', default: false, description: 'True when the role includes role assignment write: it is then privileged.' },
        },
      },
    },
    eligibility: {
      title: 'Eligibility rules',
      description: 'Who may request which time-bound role assignment, and who approves.',
      type: 'array',
      items: { $ref: '#/$defs/rule' },
    },
    standing: {
      title: 'Standing assignments',
      description: 'Permanent assignments: the desired state that reconciliation keeps.',
      type: 'array',
      items: standingEntry('#/$defs/role', '#/$defs/scope', { hsm: { type: 'string', description: 'Defaults to the default HSM.' } }),
    },
    protected: {
      title: 'Protected assignments',
      description: 'Assignments the service never creates, changes or removes (break-glass, the service identity).',
      type: 'array',
      items: protectedEntry('#/$defs/role', '#/$defs/scope', 'Omit to protect every scope.', { hsm: { type: 'string', description: 'Omit for every HSM.' } }),
    },
    forbidden: {
      title: 'Forbidden principals',
      description: 'Principals that must never hold any data-plane role (for a group: nor its declared members). They may still request access for others when a rule allows it.',
      type: 'array',
      items: principalEntry({ reason: { type: 'string' } }),
    },
    defaults: {
      title: 'Defaults',
      type: 'object',
      additionalProperties: false,
      properties: {
        pendingLifetime: { $ref: '#/$defs/duration', default: 'PT24H', description: 'How long a request waits for approval before it times out.' },
        minDuration: { $ref: '#/$defs/duration', default: 'PT1M', description: 'The shortest grant any rule allows.' },
        privilegedRoles: {
          type: 'array',
          items: { $ref: '#/$defs/role' },
          description: 'Roles that count as privileged. Default: every role that can write role assignments (Administrator, Crypto Officer, Policy Administrator).',
        },
        privilegedMinApprovers: { type: 'integer', minimum: 1, default: 2, description: 'Minimum approvals for a rule that grants a privileged role.' },
      },
    },
    reconcile: {
      title: 'Drift reconciliation',
      description: 'How the nightly reconciliation treats role assignments that differ from this policy and the active grants.',
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['report', 'enforce'], default: 'report', description: "'report' only reports drift; 'enforce' also repairs it when a run is applied." },
        maxRemovalsPerRun: { type: 'integer', minimum: 0, default: 10, description: 'An apply that would remove more assignments than this is refused as a whole, and reported.' },
        keyRotationPeriod: { $ref: '#/$defs/duration', default: 'P365D', description: 'Keys whose current version is older than this are reported as not rotated.' },
        keyExpiryWarning: { $ref: '#/$defs/duration', default: 'P30D', description: 'Keys expiring within this period are reported.' },
      },
    },
    notifications: {
      title: 'Notifications',
      description: 'Where approvers are told that a request needs them (Teams and/or email), and when reminders and expiry warnings go out. Requesters are told by email at the address of their principal.',
      type: 'object',
      additionalProperties: false,
      properties: {
        approvers: {
          type: 'object',
          description: "Per approver alias (a user or group named in a rule's approval): the channels it is told on. An approver without an entry is told by email at its principal's address (for a group: its members').",
          propertyNames: { pattern: NAME_PATTERN },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              teams: { type: 'string', pattern: SETTING_PATTERN, description: 'Name of the app setting that holds the Teams Workflows webhook URL (the URL is a secret and never goes into the policy).' },
              email: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', format: 'email' }, description: 'Addresses, e.g. a distribution list.' },
              bot: {
                description: "Approval cards from the Teams bot, with Approve and Deny: 'personal' sends one to each member in a personal chat (members who installed the bot); { channel } posts one to a Teams channel the bot was added to. The webhook card and email still go where they are named.",
                oneOf: [
                  { const: 'personal' },
                  {
                    type: 'object',
                    additionalProperties: false,
                    required: ['channel'],
                    properties: { channel: { type: 'string', pattern: CHANNEL_PATTERN, description: 'The channel\'s conversation id, e.g. 19:abc123@thread.tacv2 (Teams: Get link to channel).' } },
                  },
                ],
              },
            },
          },
        },
        reminders: { type: 'boolean', default: true, description: 'Remind the approvers once when a request has waited half of its pending lifetime.' },
        expiryWarning: { $ref: '#/$defs/duration', default: 'PT15M', description: 'How long before a grant ends its requester is warned (grants no longer than this get no warning).' },
        longDuration: { $ref: '#/$defs/duration', default: 'PT4H', description: "Grants at least this long are flagged 'long duration' for the approvers." },
      },
    },
    azureRbac: {
      title: 'Management plane (Azure RBAC)',
      description: 'Azure role assignments on ARM scopes (subscription, resource group, the Managed HSM resource): standing ones that reconciliation keeps, and rules for time-bound ones, requested and approved like data-plane grants.',
      type: 'object',
      additionalProperties: false,
      required: ['scopes'],
      properties: {
        mode: {
          enum: ['assignment', 'pim'],
          default: 'assignment',
          description: "'assignment': plain role assignments the service removes at expiry. 'pim' (Entra ID P2): PIM schedule requests with an expiration, so Azure ends the grant itself and the service only verifies.",
        },
        scopes: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { $ref: '#/$defs/armScope' },
          description: 'The ARM scopes the service governs: requests, standing assignments and reconciliation stay at or below them.',
        },
        standing: {
          type: 'array',
          items: standingEntry('#/$defs/azureRole', '#/$defs/armScope', {}),
        },
        protected: {
          type: 'array',
          description: 'Azure role assignments the service never touches (besides the principal-wide entries of the top-level protected list).',
          items: protectedEntry('#/$defs/azureRole', '#/$defs/armScope', 'Omit for every governed scope.', {}),
        },
        eligibility: {
          type: 'array',
          description: "Rules in the shape of the data-plane ones; 'roles' are Azure role names or ids, 'scopes' exact ARM scopes.",
          items: { $ref: '#/$defs/rule' },
        },
      },
    },
    events: {
      title: 'Inbound events',
      description: 'Who may raise access requests as CloudEvents (HsmAccess.Request.Submit.v1) through the Event Grid subscription (docs/events.md).',
      type: 'object',
      additionalProperties: false,
      properties: {
        trustedSources: {
          type: 'array',
          uniqueItems: true,
          items: { type: 'string', minLength: 1, pattern: '^\\S+$' },
          description: "Exact CloudEvents `source` values whose submissions are accepted, e.g. an ITSM tool's. The requester named in each event must still be eligible, exactly as over HTTP. Anyone allowed to publish to the topic can claim any source: grant 'EventGrid Data Sender' on it only to the systems listed here.",
        },
      },
    },
  },
  $defs: {
    alias: { type: 'string', pattern: NAME_PATTERN, description: 'A key of `principals`.' },
    aliasList: { type: 'array', minItems: 1, items: { $ref: '#/$defs/alias' }, uniqueItems: true },
    duration: { type: 'string', pattern: DURATION_PATTERN, description: 'ISO 8601 duration in days, hours, minutes and seconds, e.g. PT1H, PT30M, P1D.' },
    role: { type: 'string', minLength: 1, description: "Role name ('Managed HSM Crypto User'), short alias ('Crypto User') or role definition GUID." },
    scope: { type: 'string', description: "'/', '/keys' or '/keys/{key-name}'." },
    scopePattern: { type: 'string', description: "An exact scope, or '/keys/*' for any single key (management-plane rules: an exact ARM scope)." },
    armScope: { type: 'string', pattern: '^/subscriptions/', description: "An ARM scope: '/subscriptions/{id}', '.../resourceGroups/{name}' or a resource id such as '.../providers/Microsoft.KeyVault/managedHSMs/{name}'." },
    azureRole: { type: 'string', minLength: 1, description: "An Azure role name ('Managed HSM Contributor') or role definition GUID." },
    principal: {
      type: 'object',
      additionalProperties: false,
      required: ['objectId', 'type'],
      properties: {
        objectId: { type: 'string', pattern: GUID_PATTERN, description: 'Entra ID object id.' },
        type: { enum: ['User', 'Group', 'ServicePrincipal'] },
        displayName: { type: 'string' },
        members: { $ref: '#/$defs/aliasList', description: 'For groups: members known to the policy (forbidden applies to them too).' },
        email: { type: 'string', format: 'email', description: 'Where notifications for this principal go (as requester, and as approver without a notifications entry).' },
      },
    },
    rule: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'requesters', 'for', 'roles', 'scopes', 'maxDuration', 'approval'],
      properties: {
        id: { type: 'string', pattern: NAME_PATTERN, description: 'Stable rule identifier, recorded on every request.' },
        description: { type: 'string' },
        requesters: { $ref: '#/$defs/aliasList', description: 'Users or groups who may ask.' },
        for: {
          description: "Whom the grant is for: 'self' (the requester), or a list of principal aliases (may include 'self').",
          oneOf: [
            { const: 'self' },
            { type: 'array', minItems: 1, uniqueItems: true, items: { anyOf: [{ const: 'self' }, { $ref: '#/$defs/alias' }] } },
          ],
        },
        roles: { type: 'array', minItems: 1, items: { $ref: '#/$defs/role' } },
        scopes: { type: 'array', minItems: 1, items: { $ref: '#/$defs/scopePattern' } },
        defaultDuration: { $ref: '#/$defs/duration', description: 'Used when a request gives no duration. Defaults to maxDuration.' },
        maxDuration: { $ref: '#/$defs/duration' },
        minDuration: { $ref: '#/$defs/duration', description: 'Defaults to defaults.minDuration.' },
        requireJustification: { type: 'boolean', default: true },
        requireTicket: { type: 'boolean', default: false },
        ticketPattern: { type: 'string', minLength: 1, description: 'Regular expression a ticket reference must match, e.g. ^(INC|CHG)-\\d+$.' },
        approval: {
          description: "'none' for low-risk rules, or the approver groups/users and how many distinct approvers are needed.",
          oneOf: [
            { const: 'none' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['approvers', 'count'],
              properties: {
                approvers: { type: 'array', items: { $ref: '#/$defs/alias' }, uniqueItems: true },
                count: { type: 'integer', minimum: 0, maximum: 10 },
              },
            },
          ],
        },
        hsm: { type: 'string', description: 'Restrict the rule to one HSM. Omit for every HSM.' },
      },
    },
  },
} as const;

/** The text of docs/policy.schema.json. */
export function policySchemaJson(): string {
  return JSON.stringify(POLICY_SCHEMA, null, 2) + '\n';
}
