import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, JWK, JWTPayload } from 'jose';

/** Verifies a bearer token's signature, expiry, issuer and audience against the dev identity provider. */
export type TokenVerifier = (token: string) => Promise<JWTPayload>;

export function createTokenVerifier(options: { issuer: string; audience: string | string[]; jwk?: JWK; jwksUrl?: string }): TokenVerifier {
  const keySet = options.jwk ? createLocalJWKSet({ keys: [options.jwk] }) : createRemoteJWKSet(new URL(options.jwksUrl as string));
  return async (token: string) => {
    const { payload } = await jwtVerify(token, keySet, { issuer: options.issuer, audience: options.audience, algorithms: ['RS256'], clockTolerance: 5 });
    return payload;
  };
}
