import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import { isArmScope, normalizeArmScope, normalizeScope } from '../shared/domain';
import { callerOf, endpoint, invocationLog, isGuid, json, problemResponse, unauthenticated } from './http';

/** `GET /api/eligibility`: every rule the caller may use, with keys, grantees, durations, approvals and their open requests. */
export async function eligibility(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const rules = await appContext().eligibility(invocationLog(context)).catalog(caller);
  return json(200, { rules });
}

/** `GET /api/eligibility/explain?role=&scope=&principalId=`: why such a request would be allowed or refused, rule by rule. */
export async function explain(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const role = request.query.get('role')?.trim();
  const scope = request.query.get('scope')?.trim();
  const principalId = request.query.get('principalId')?.trim() || undefined;
  if (!role || !scope) return problemResponse(400, 'invalid-query', 'role and scope are required, e.g. ?role=Crypto%20User&scope=/keys/release-signing-key');
  if (principalId !== undefined && !isGuid(principalId)) return problemResponse(400, 'invalid-principal', 'principalId must be an Entra object id (GUID); leave it out to ask about yourself');
  const normalized = isArmScope(scope) ? normalizeArmScope(scope) : normalizeScope(scope);
  if (!normalized.ok) return problemResponse(400, 'malformed-scope', normalized.detail);
  const explanation = appContext().eligibility(invocationLog(context)).explain(caller, { role, scope: normalized.scope, ...(principalId ? { principalId } : {}) });
  return json(200, explanation);
}

app.http('eligibility', { methods: ['GET'], authLevel: 'anonymous', route: 'api/eligibility', handler: endpoint(eligibility) });
app.http('eligibility-explain', { methods: ['GET'], authLevel: 'anonymous', route: 'api/eligibility/explain', handler: endpoint(explain) });
