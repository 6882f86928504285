import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, JWK, JWTPayload } from 'jose';

/** Verifies a bearer token's signature, expiry, issuer and audience against the dev identity provider. */
export type TokenVerifier = (token: string) => Promise<JWTPayload>;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function createTokenVerifier(options: { issuer: string; audience: string | string[]; jwk?: JWK; jwksUrl?: string }): TokenVerifier {
  const keySet = options.jwk ? createLocalJWKSet({ keys: [options.jwk] }) : createRemoteJWKSet(new URL(options.jwksUrl as string));
  return async (token: string) => {
    // Entra's tokens are compact JWS with exp, nbf and iat; anything else (junk around a segment, a token that never expires) is not one.
    if (!COMPACT_JWS.test(token)) throw new Error('not a compact JWS');
    const { payload } = await jwtVerify(token, keySet, {
      issuer: options.issuer, audience: options.audience, algorithms: ['RS256'], clockTolerance: 5, requiredClaims: ['exp', 'nbf', 'iat'],
    });
    return payload;
  };
}
