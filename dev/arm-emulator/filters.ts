import { isGuid } from './model';
import { armError, type Caller, type EmulatorResponse } from './responses';

/**
 * The `$filter` of the service's lists: `atScope()`, `principalId eq '{id}'`, `assignedTo('{id}')`
 * (the principal's own and, for the caller, its groups'), and on PIM lists `asTarget()` (the
 * caller's) and `asRequestor()` (what the caller asked for), joined by `and`.
 */
export interface ListFilter {
  atScope: boolean;
  principalId?: string;
  assignedTo?: string;
  asTarget: boolean;
  asRequestor: boolean;
}

export type FilterClause = 'atScope' | 'principalId' | 'assignedTo' | 'asTarget' | 'asRequestor';
export const ASSIGNMENT_CLAUSES: readonly FilterClause[] = ['atScope', 'principalId', 'assignedTo'];
export const PIM_CLAUSES: readonly FilterClause[] = ['atScope', 'principalId', 'assignedTo', 'asTarget', 'asRequestor'];

const CLAUSE_SYNTAX = "atScope(), principalId eq '{objectId}', assignedTo('{objectId}'), asTarget(), asRequestor()";

export function parseListFilter(text: string | undefined, allowed: readonly FilterClause[]): ListFilter | undefined {
  const result: ListFilter = { atScope: false, asTarget: false, asRequestor: false };
  if (text === undefined || text.trim() === '') return result;
  for (const clause of text.split(/\s+and\s+/i)) {
    const trimmed = clause.trim();
    const principal = /^principalId\s+eq\s+'?([0-9a-f-]{36})'?$/i.exec(trimmed);
    const assignedTo = /^assignedTo\('([0-9a-f-]{36})'\)$/i.exec(trimmed);
    let kind: FilterClause | undefined;
    if (/^atScope\(\)$/i.test(trimmed)) kind = 'atScope';
    else if (/^asTarget\(\)$/i.test(trimmed)) kind = 'asTarget';
    else if (/^asRequestor\(\)$/i.test(trimmed)) kind = 'asRequestor';
    else if (principal && isGuid(principal[1])) kind = 'principalId';
    else if (assignedTo && isGuid(assignedTo[1])) kind = 'assignedTo';
    if (!kind || !allowed.includes(kind)) return undefined;
    if (kind === 'atScope' || kind === 'asTarget' || kind === 'asRequestor') result[kind] = true;
    if (kind === 'principalId') result.principalId = (principal as RegExpExecArray)[1].toLowerCase();
    if (kind === 'assignedTo') result.assignedTo = (assignedTo as RegExpExecArray)[1].toLowerCase();
  }
  return result;
}

/** Whether an item for `principalId` (asked for by `requestorId`) passes the filter's principal clauses. */
export function passesPrincipalClauses(filter: ListFilter, caller: Caller, principalId: string, requestorId?: string): boolean {
  const principal = principalId.toLowerCase();
  const callerPrincipals = caller.principalIds.map((id) => id.toLowerCase());
  if (filter.principalId && principal !== filter.principalId) return false;
  if (filter.assignedTo) {
    const covered = filter.assignedTo === caller.objectId.toLowerCase() ? callerPrincipals : [filter.assignedTo];
    if (!covered.includes(principal)) return false;
  }
  if (filter.asTarget && !callerPrincipals.includes(principal)) return false;
  if (filter.asRequestor && requestorId?.toLowerCase() !== caller.objectId.toLowerCase()) return false;
  return true;
}

export function badFilter(filter: string | undefined, allowed: readonly FilterClause[]): EmulatorResponse {
  const syntax = CLAUSE_SYNTAX.split(', ').filter((clause) => allowed.some((kind) => clause.startsWith(kind))).join(', ');
  return armError(400, 'BadRequest', `The $filter '${filter}' is not supported. Use ${syntax || CLAUSE_SYNTAX}, joined by 'and'.`);
}
