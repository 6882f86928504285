/** The stack the reconciliation tests share: seeded `drifted`, the Contoso policy enforcing its repairs. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, type TestStack, type TestStackOptions } from './stack';

/** Started in beforeAll (the policy file in a temporary directory), closed with it in afterAll. */
export function useEnforcingDriftedStack(options: TestStackOptions = {}): () => TestStack {
  let stack: TestStack | undefined;
  let policyDir: string | undefined;
  beforeAll(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'policy-'));
    const policyFile = join(policyDir, 'policy.yaml');
    const contoso = readFileSync(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'), 'utf8');
    writeFileSync(policyFile, contoso.replace(/\n {2}mode: report\n/, '\n  mode: enforce\n'));
    stack = await startTestStack({ ...options, seed: 'drifted', policyFile });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  });
  return () => {
    if (!stack) throw new Error('The stack is not running (use it inside a test, after beforeAll)');
    return stack;
  };
}
