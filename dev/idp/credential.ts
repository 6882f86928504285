import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

/**
 * A TokenCredential for one persona of the local identity provider: lets tests and scripts act as
 * `sam`, `app-vm`, ... through the real Azure SDK clients.
 */
export class DevPersonaCredential implements TokenCredential {
  private cache = new Map<string, AccessToken>();

  constructor(private readonly idpUrl: string, private readonly personaName: string) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    const cached = this.cache.get(scope);
    if (cached && cached.expiresOnTimestamp - Date.now() > 60_000) return cached;
    const response = await fetch(`${this.idpUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ persona: this.personaName, scope }),
    });
    if (!response.ok) throw new Error(`Identity provider refused a token for ${this.personaName}: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { access_token: string; expires_on: number };
    const token: AccessToken = { token: body.access_token, expiresOnTimestamp: body.expires_on * 1000 };
    this.cache.set(scope, token);
    return token;
  }
}

export async function fetchToken(idpUrl: string, personaName: string, audience: string): Promise<string> {
  const token = await new DevPersonaCredential(idpUrl, personaName).getToken(audience);
  return (token as AccessToken).token;
}
