import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** infra/entra-groups.sh, read as text (no tenant here): what it grants, and that it checks what it did. */

const root = join(__dirname, '..', '..');
const script = readFileSync(join(root, 'infra/entra-groups.sh'), 'utf8');
const readme = readFileSync(join(root, 'infra/README.md'), 'utf8');

describe('infra/entra-groups.sh', () => {
  it('sets the registration\'s group claims to SecurityGroup unless it already emits groups', () => {
    expect(script).toMatch(/az ad app update --id "\$client_id" --set groupMembershipClaims=SecurityGroup/);
    expect(script).toMatch(/SecurityGroup\|All\|ApplicationGroup\) echo "groupMembershipClaims is already/);
  });

  it('grants GroupMember.Read.All as an application permission, User.Read.All only when asked, nothing broader', () => {
    expect(script).toMatch(/^permissions=\(GroupMember\.Read\.All\)$/m);
    expect(script).toMatch(/if \[ "\$with_names" = true \]; then permissions\+=\(User\.Read\.All\); fi/);
    expect(script).not.toMatch(/Directory\.Read(Write)?\.All|Group\.Read\.All|ReadWrite/);
    expect(script).toContain("contains(allowedMemberTypes, 'Application')");
    expect(script).toContain('servicePrincipals/$principal/appRoleAssignments');
  });

  it('is idempotent and checks the result afterwards', () => {
    expect(script).toMatch(/if \[ -z "\$\(granted "\$role"\)" \]; then/);
    expect(script).toMatch(/FAILED: groupMembershipClaims/);
    expect(script).toMatch(/FAILED: \$principal does not hold/);
    expect(script).toMatch(/^set -euo pipefail$/m);
  });

  it('is what infra/README.md tells the administrator to run, with the permission in the service\'s table', () => {
    expect(readme).toContain('infra/entra-groups.sh');
    expect(readme).toMatch(/\| Microsoft Graph \(Entra ID\) \| application permission \*GroupMember\.Read\.All\*/);
  });
});
