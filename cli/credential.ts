import type { TokenCredential } from '@azure/core-auth';
import { AzureCliCredential, DeviceCodeCredential, InteractiveBrowserCredential } from '@azure/identity';
import { DevPersonaCredential } from '../dev/idp/credential';
import type { SignIn } from './config';

/** The TokenCredential a sign-in method stands for; device code prompts go to stderr so stdout stays data. */
export function credentialFor(signIn: SignIn, say: (line: string) => void): TokenCredential {
  switch (signIn.method) {
    case 'dev':
      return new DevPersonaCredential(signIn.idp, signIn.persona);
    case 'azure-cli':
      return new AzureCliCredential(signIn.tenantId ? { tenantId: signIn.tenantId } : {});
    case 'device-code':
      return new DeviceCodeCredential({ clientId: signIn.clientId, ...(signIn.tenantId ? { tenantId: signIn.tenantId } : {}), userPromptCallback: (info) => say(info.message) });
    case 'browser':
      return new InteractiveBrowserCredential({ clientId: signIn.clientId, ...(signIn.tenantId ? { tenantId: signIn.tenantId } : {}) });
  }
}
