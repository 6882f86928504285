// Keeps out forged review links: when App Service cannot resolve a Key Vault reference, the public text `@Microsoft.KeyVault(...)` is refused by name instead of becoming the HMAC key that signs review links.
import { ConfigurationError, loadConfig, loadNotificationConfig } from '../../shared/adapters/config';
import { TENANT_ID } from '../../dev/personas';
import { startTestStack, type TestStack } from '../helpers/stack';

const REFERENCE = '@Microsoft.KeyVault(VaultName=hsmgovkv123;SecretName=review-link-keys)';

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigurationError) return error.problems;
    throw error;
  }
  throw new Error('the settings were accepted');
}

describe('a setting that still reads @Microsoft.KeyVault( is an error naming it', () => {
  it('is refused as the review-link key, and the message names the setting but never repeats the reference', () => {
    const problems = problemsOf(() => loadNotificationConfig({ REVIEW_LINK_KEYS: REFERENCE }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^REVIEW_LINK_KEYS is an unresolved Key Vault reference/);
    expect(problems.join()).not.toContain('hsmgovkv123');
  });

  it('is refused for a webhook the policy names and for the SMTP password', () => {
    const problems = problemsOf(() => loadNotificationConfig({ TEAMS_SEC: ` ${REFERENCE.toLowerCase()}`, SMTP_HOST: 'smtp.contoso.com', SMTP_FROM: 'a@contoso.com', SMTP_USER: 'u', SMTP_PASSWORD: REFERENCE }, ['TEAMS_SEC']));
    expect(problems.map((p) => p.split(' ')[0])).toEqual(['SMTP_PASSWORD', 'TEAMS_SEC']);
  });

  it('stops the app context whichever setting it is', () => {
    const problems = problemsOf(() => loadConfig({ AzureWebJobsStorage__accountName: 'stcontoso', AzureWebJobsStorage__credential: 'managedidentity', HSM_URL: 'https://contoso.managedhsm.azure.net', POLICY_FILE: 'examples/contoso/policy.yaml', AZURE_TENANT_ID: TENANT_ID, SOME_SECRET: REFERENCE }));
    expect(problems).toEqual([expect.stringMatching(/^SOME_SECRET is an unresolved Key Vault reference/)]);
  });

  describe('in the running app', () => {
    let stack: TestStack;
    beforeAll(async () => {
      stack = await startTestStack({ env: { REVIEW_LINK_KEYS: REFERENCE } });
    });
    afterAll(() => stack?.close());

    it('health answers 503 naming the setting', async () => {
      const health = await stack.api('/api/health');
      expect(health.status).toBe(503);
      const body = (await health.json()) as { checks: { configuration: { ok: boolean; error: string } } };
      expect(body.checks.configuration.ok).toBe(false);
      expect(body.checks.configuration.error).toMatch(/REVIEW_LINK_KEYS is an unresolved Key Vault reference/);
      expect(JSON.stringify(body)).not.toContain('hsmgovkv123');
    });
  });
});
