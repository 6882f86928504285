/**
 * The caller, as App Service Authentication reports it. This is the only place function code
 * learns who is calling: the platform verifies the token or session and sets these headers, and
 * drops any a client sent itself.
 */

import { isGuid } from '../domain/roles';
import type { GroupOverage } from '../services/directoryPorts';

export interface Principal {
  /** Entra object id (`oid`). */
  principalId: string;
  /** Display name. */
  name: string;
  /** User principal name (or the app's name for a service principal). */
  upn: string;
  /** Object ids of the groups in the token. */
  groups: string[];
  tenantId: string;
  /** Present when the token says `groups` is not the whole list (the groups overage): ask the directory. */
  groupOverage?: GroupOverage;
}

export type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

const OBJECT_ID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const TENANT_ID = 'http://schemas.microsoft.com/identity/claims/tenantid';
const UPN_CLAIMS = ['preferred_username', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', 'upn'];
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_HEADER_LENGTH = 64 * 1024;

interface Claim {
  typ: string;
  val: string;
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

function decodeClaims(encoded: string): { claims: Claim[]; nameType: string | undefined } | undefined {
  const text = encoded.trim();
  if (text === '' || text.length > MAX_HEADER_LENGTH || !BASE64.test(text)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { auth_typ: authType, claims, name_typ: nameType } = parsed as Record<string, unknown>;
  if (authType !== 'aad' || !Array.isArray(claims)) return undefined;
  if (!claims.every((c): c is Claim => typeof c === 'object' && c !== null && typeof (c as Claim).typ === 'string' && typeof (c as Claim).val === 'string')) return undefined;
  return { claims, nameType: typeof nameType === 'string' ? nameType : undefined };
}

function single(claims: Claim[], typ: string): string | undefined | null {
  const values = claims.filter((c) => c.typ === typ).map((c) => c.val);
  if (values.length > 1) return null;
  return values[0];
}

/** `true` as JSON and .NET's claim mapping write it. */
const TRUE = /^true$/i;

function namesGroups(claimNames: string): boolean {
  try {
    const parsed: unknown = JSON.parse(claimNames);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.prototype.hasOwnProperty.call(parsed, 'groups');
  } catch {
    return false;
  }
}

/**
 * Whether the token told the app that its `groups` claim is not the whole list. Microsoft Entra ID
 * leaves `groups` out past 200 groups in a JWT and names it in `_claim_names` instead
 * (`"_claim_names": {"groups": "src1"}`, with `_claim_sources.src1.endpoint`), and in the implicit
 * flow past 5 groups it sends `"hasgroups": true`. App Service Authentication passes a token's
 * claims on as they are, a JSON object as its JSON text, a boolean as `true`; a bearer token's and
 * a sign-in session's claims alike. The endpoint in `_claim_sources` is never followed (it names
 * the retired Azure AD Graph): the directory is asked through Microsoft Graph instead.
 */
export function groupOverageOf(claims: readonly Claim[]): GroupOverage | undefined {
  if (claims.some((c) => c.typ === '_claim_names' && namesGroups(c.val))) return 'distributed-claim';
  if (claims.some((c) => c.typ === 'hasgroups' && TRUE.test(c.val.trim()))) return 'hasgroups';
  return undefined;
}

/**
 * The authenticated caller, or undefined when the request carries no (or no well-formed)
 * principal: bad base64 or JSON, no object id, an object id that disagrees with
 * `x-ms-client-principal-id`, or no tenant.
 */
export function principalFromHeaders(headers: HeaderSource): Principal | undefined {
  const encoded = header(headers, 'x-ms-client-principal');
  const principalIdHeader = header(headers, 'x-ms-client-principal-id');
  if (!encoded || !principalIdHeader) return undefined;
  const decoded = decodeClaims(encoded);
  if (!decoded) return undefined;
  const { claims, nameType } = decoded;
  const oid = single(claims, OBJECT_ID);
  const tenantId = single(claims, TENANT_ID);
  if (!oid || !isGuid(oid) || oid.toLowerCase() !== principalIdHeader.trim().toLowerCase()) return undefined;
  if (!tenantId || !isGuid(tenantId)) return undefined;
  const upn = UPN_CLAIMS.map((typ) => single(claims, typ)).find((v): v is string => typeof v === 'string' && v !== '')
    ?? (nameType ? single(claims, nameType) : undefined)
    ?? header(headers, 'x-ms-client-principal-name')
    ?? oid;
  const name = single(claims, 'name') || upn;
  const groups = [...new Set(claims.filter((c) => c.typ === 'groups').map((c) => c.val.toLowerCase()))];
  const groupOverage = groupOverageOf(claims);
  return { principalId: oid.toLowerCase(), name, upn, groups, tenantId: tenantId.toLowerCase(), ...(groupOverage ? { groupOverage } : {}) };
}

/** Who is calling, as far as this service is concerned: someone of its own tenant, nobody, or someone of another tenant. */
export type Identification =
  | { readonly kind: 'caller'; readonly principal: Principal }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'wrong-tenant'; readonly tenantId: string };

/**
 * The one place a caller's tenant is compared with the service's own: every route that identifies
 * callers (API, reports, review page) goes through it, and a principal of another tenant is never a caller.
 */
export function identify(headers: HeaderSource, serviceTenantId: string): Identification {
  const principal = principalFromHeaders(headers);
  if (!principal) return { kind: 'anonymous' };
  if (principal.tenantId !== serviceTenantId.toLowerCase()) return { kind: 'wrong-tenant', tenantId: principal.tenantId };
  return { kind: 'caller', principal };
}

export const WRONG_TENANT_DETAIL = 'You signed in with an account of another Entra tenant: this service accepts only accounts of its own tenant. Sign in with your organisation account.';
