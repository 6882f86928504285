/**
 * What the Teams bot does with a click on an approval card: the same decision as
 * `POST /api/requests/{id}/decisions`, for the person Teams vouches for, and the card as it is now.
 */
import { approvalCard, CARD_VERBS, type Caller, type Decision, type Policy } from '../domain';
import type { AccessRequest } from '../domain';
import type { Outcome } from './accessRequests';
import type { Clock } from './ports';

/** The workflow calls the bot makes: exactly the API's. */
export interface DecisionPort {
  get(caller: Caller, id: string): Promise<Outcome<AccessRequest>>;
  decide(caller: Caller, id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>>;
}

/** The groups a person is in (Teams activities carry no group claims; the directory is asked instead). */
export interface DirectoryPort {
  memberGroups(objectId: string): Promise<readonly string[]>;
}

/** One Universal Action as the bot received it, after the Bot Framework token was validated. */
export interface CardAction {
  /** `channelData.tenant.id` of the activity. */
  readonly tenantId: string | undefined;
  /** `from.aadObjectId`: the Entra object id of the person who clicked. */
  readonly aadObjectId: string | undefined;
  /** `from.id`: the Teams user id, for the card's refresh list. */
  readonly teamsUserId: string | undefined;
  readonly verb: string;
  readonly data: unknown;
}

/** The invoke response: a card for this viewer, or an error Teams shows (400: bad action; 403: not allowed). */
export type CardActionResult =
  | { readonly kind: 'card'; readonly card: Record<string, unknown> }
  | { readonly kind: 'error'; readonly status: 400 | 403; readonly code: string; readonly message: string };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_COMMENT = 500;

export interface TeamsApprovalDependencies {
  readonly policy: Policy;
  /** Our tenant: activities of any other are refused. */
  readonly tenantId: string;
  readonly requests: DecisionPort;
  readonly directory: DirectoryPort;
  readonly clock: Clock;
  /** Whose cards Teams refreshes by itself (the approvers who may still decide); default: the clicker. */
  refreshUserIds?(request: AccessRequest): Promise<string[]>;
}

function error(status: 400 | 403, code: string, message: string): CardActionResult {
  return { kind: 'error', status, code, message };
}

function actionData(data: unknown): { requestId: string; comment?: string } | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const { requestId, comment } = data as Record<string, unknown>;
  if (typeof requestId !== 'string' || !GUID.test(requestId)) return undefined;
  if (comment !== undefined && comment !== null && (typeof comment !== 'string' || comment.length > MAX_COMMENT)) return undefined;
  return { requestId: requestId.toLowerCase(), ...(typeof comment === 'string' && comment.trim() ? { comment: comment.trim() } : {}) };
}

export class TeamsApprovalService {
  constructor(private readonly deps: TeamsApprovalDependencies) {}

  /** Never changes anything unless the clicker may decide the request now; answers with the card as it is after. */
  async handle(action: CardAction): Promise<CardActionResult> {
    if (!action.tenantId || action.tenantId.toLowerCase() !== this.deps.tenantId.toLowerCase()) return error(403, 'wrong-tenant', 'This bot answers people of its own tenant only');
    if (!action.aadObjectId || !GUID.test(action.aadObjectId)) return error(403, 'unknown-user', 'Teams did not say who you are; open the card in Teams signed in to your work account');
    const data = actionData(action.data);
    if (!data) return error(400, 'invalid-action', 'The card action does not name a request; use the buttons of a card the bot sent');
    const caller: Caller = { objectId: action.aadObjectId.toLowerCase(), groups: await this.deps.directory.memberGroups(action.aadObjectId.toLowerCase()) };
    let notice: string | undefined;
    if (action.verb === CARD_VERBS.approve || action.verb === CARD_VERBS.deny) {
      const decided = await this.deps.requests.decide(caller, data.requestId, action.verb, data.comment);
      if (!decided.ok) notice = `Your decision was not taken: ${decided.detail}`;
    } else if (action.verb !== CARD_VERBS.refresh) {
      return error(400, 'invalid-action', `Unknown card action '${action.verb}'`);
    }
    // The card shows the request as it is now, whatever the click did: a change made meanwhile is shown too.
    const current = await this.deps.requests.get(caller, data.requestId);
    if (!current.ok) return error(403, current.code, current.detail);
    const refreshUserIds = this.deps.refreshUserIds ? await this.deps.refreshUserIds(current.value) : action.teamsUserId ? [action.teamsUserId] : [];
    return { kind: 'card', card: approvalCard(this.deps.policy, current.value, caller, this.deps.clock.now(), { refreshUserIds, ...(notice ? { notice } : {}) }) };
  }
}

/**
 * Group membership as the policy declares it (`members` of its groups). It can only say less than
 * Entra ID does, never more: a member the policy does not list is simply not an approver in Teams.
 */
export class PolicyDirectory implements DirectoryPort {
  constructor(private readonly policy: Policy) {}

  async memberGroups(objectId: string): Promise<readonly string[]> {
    const principals = Object.values(this.policy.principals);
    const aliases = principals.filter((p) => p.objectId === objectId.toLowerCase()).map((p) => p.alias);
    return principals.filter((p) => p.type === 'Group' && p.members.some((m) => aliases.includes(m))).map((p) => p.objectId);
  }
}
