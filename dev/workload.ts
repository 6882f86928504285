import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isRestError } from '@azure/core-rest-pipeline';
import { CryptographyClient, type SignatureAlgorithm } from '@azure/keyvault-keys';
import { DevPersonaCredential } from './idp/credential';

/**
 * `npm run -s as -- <persona> sign <key> <text>` (or `verify <key> <text> <signature>`): acts as a
 * workload identity (app-vm, ...) against the local HSM through the real @azure/keyvault-keys client,
 * so anyone can see a grant take effect, and see the HSM refuse once it is gone.
 * Exit codes: 0 done, 2 usage, 4 the HSM refused (no role), 5 no such key, 8 the stack is not running.
 */

const USAGE = 'Usage: npm run -s as -- <persona> sign <key> <text> | verify <key> <text> <signature> [--data-dir DIR]';

export interface WorkloadArguments {
  persona: string;
  operation: 'sign' | 'verify';
  key: string;
  text: string;
  signature?: string;
  dataDir: string;
}

export class WorkloadError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export function parseWorkloadArguments(argv: readonly string[]): WorkloadArguments {
  const positional: string[] = [];
  let dataDir = process.env.HSM_GOVERNOR_DATA_DIR ? resolve(process.env.HSM_GOVERNOR_DATA_DIR) : join(resolve(__dirname, '..'), '.data');
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--data-dir') dataDir = resolve(argv[++i] ?? '');
    else if (argv[i] === '--help' || argv[i] === '-h') throw new WorkloadError(USAGE, 0);
    else positional.push(argv[i]);
  }
  const [persona, operation, key, text, signature] = positional;
  const counts = { sign: 4, verify: 5 } as Record<string, number>;
  if (!persona || !operation || counts[operation] !== positional.length) throw new WorkloadError(USAGE, 2);
  return { persona, operation: operation as 'sign' | 'verify', key, text, ...(signature ? { signature } : {}), dataDir };
}

function localStack(dataDir: string): { hsm: string; hsmCaFile: string; idp: string } {
  const file = join(dataDir, 'endpoints.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { hsm: string; hsmCaFile: string; idp: string };
  } catch {
    throw new WorkloadError(`Cannot read ${file}: is the local stack running (npm start)?`, 8);
  }
}

/** What the HSM answered, in a line or a few; the refusal in the HSM's own words. */
export async function actAsWorkload(args: WorkloadArguments): Promise<string> {
  const stack = localStack(args.dataDir);
  const keyId = `${stack.hsm}/keys/${args.key}`;
  const client = new CryptographyClient(keyId, new DevPersonaCredential(stack.idp, args.persona), {
    disableChallengeResourceVerification: true, // the emulator listens on 127.0.0.1, not *.managedhsm.azure.net
    tlsOptions: { ca: readFileSync(stack.hsmCaFile, 'utf8') },
    retryOptions: { maxRetries: 0 },
  });
  const algorithm: SignatureAlgorithm = 'RS256';
  const digest = createHash('sha256').update(args.text).digest();
  try {
    if (args.operation === 'sign') {
      const signed = await client.sign(algorithm, digest);
      return `${args.persona} signed "${args.text}" with ${args.key} (${algorithm}, SHA-256 digest)\nkey:       ${signed.keyID ?? keyId}\nsignature: ${Buffer.from(signed.result).toString('base64url')}\n`;
    }
    const verified = await client.verify(algorithm, digest, Buffer.from(args.signature ?? '', 'base64url'));
    return `${args.persona} verified the signature of "${args.text}" with ${args.key}: ${verified.result ? 'valid' : 'NOT valid'}\n`;
  } catch (error) {
    if (isRestError(error) && (error.statusCode === 401 || error.statusCode === 403)) {
      throw new WorkloadError(`Refused: the HSM answered ${error.statusCode} to ${args.persona} (${error.code ?? 'Forbidden'}): ${error.message}\n${args.persona} holds no role that lets it ${args.operation} with ${args.key}: ask for one (hsmgov request ...) and have it approved.`, 4);
    }
    if (isRestError(error) && error.statusCode === 404) throw new WorkloadError(`The HSM has no key '${args.key}' (404): ${error.message}`, 5);
    if (isRestError(error) && error.statusCode === undefined) throw new WorkloadError(`The HSM at ${stack.hsm} does not answer: is the local stack running (npm start)?`, 8);
    throw error;
  }
}

if (require.main === module) {
  (async () => {
    process.stdout.write(await actAsWorkload(parseWorkloadArguments(process.argv.slice(2))));
  })().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof WorkloadError ? error.exitCode : 1;
  });
}
