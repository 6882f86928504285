import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack } from '../helpers/stack';

it('refuses to start with an invalid policy and says where it is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bad-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'version: 1\nhsms:\n  - name: contoso-hsm\n    url: https://127.0.0.1:7443\nprincipals: {}\neligibility:\n  - id: broken\n    maxDuration: forever\n');
  try {
    await expect(startTestStack({ policyFile: file })).rejects.toThrow(/policy\.yaml:8:18 eligibility\[0\]\.maxDuration/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
