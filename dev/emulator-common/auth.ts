import type { JWK, JWTPayload } from 'jose';
import { createTokenVerifier, type TokenVerifier } from '../idp/verify';

/** Where an emulator finds the dev identity provider's signing key: given, or fetched from its JWKS endpoint. */
export interface TokenIssuerOptions {
  issuer: string;
  jwk?: JWK;
  jwksUrl?: string;
}

export function emulatorTokenVerifier(options: TokenIssuerOptions, audience: string | string[]): TokenVerifier {
  return createTokenVerifier({ issuer: options.issuer, audience, ...(options.jwk ? { jwk: options.jwk } : { jwksUrl: options.jwksUrl }) });
}

/** The token of an `Authorization: Bearer <token>` header; undefined when there is no header or it has another form. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match ? match[1] : undefined;
}

/**
 * The principal a verified token speaks for: its `oid`, and with it the `groups` it carries, every
 * principal an assignment may name. Undefined for a token without an object id.
 */
export function tokenPrincipal(claims: JWTPayload): { objectId: string; principalIds: string[] } | undefined {
  if (typeof claims.oid !== 'string') return undefined;
  const groups = Array.isArray(claims.groups) ? claims.groups.filter((g): g is string => typeof g === 'string') : [];
  return { objectId: claims.oid, principalIds: [claims.oid, ...groups] };
}
