import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { REVOCATION_QUEUE } from '../../shared/adapters/storage/revocationQueue';
import { RECONCILE_QUEUE } from '../../shared/adapters/storage/runQueue';

const root = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const bicep = ['infra/main.bicep', 'infra/hsm-management-plane.bicep'].map(read).join('\n');

// Built-in roles that would let the service do far more than govern access.
const OVERPRIVILEGED = {
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  'Role Based Access Control Administrator': 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
};

/** The bodies of the template's role assignments, one string each. */
function roleAssignmentBodies(text: string): string[] {
  const bodies: string[] = [];
  const start = /resource \w+ 'Microsoft\.Authorization\/roleAssignments@[^']+' = /g;
  for (let match = start.exec(text); match; match = start.exec(text)) {
    let depth = 0;
    let end = match.index + match[0].length;
    for (; end < text.length; end++) {
      if (text[end] === '{') depth++;
      if (text[end] === '}' && --depth === 0) break;
    }
    bodies.push(text.slice(match.index, end + 1));
  }
  return bodies;
}

describe('infra: the service identity is least privileged', () => {
  const assignments = roleAssignmentBodies(bicep);

  it('assigns roles only to the service principal, each with principalType set', () => {
    expect(assignments.length).toBe(4);
    for (const body of assignments) {
      expect(body).toMatch(/principalType: 'ServicePrincipal'/);
      expect(body).toMatch(/principalId: (identity\.properties\.principalId|principalId)/);
    }
  });

  it('never grants an over-privileged built-in role', () => {
    for (const [name, id] of Object.entries(OVERPRIVILEGED)) {
      expect({ name, found: bicep.includes(id) }).toEqual({ name, found: false });
    }
  });

  it('limits what the management-plane role may assign or remove with a delegation condition', () => {
    const onHsm = assignments.find((body) => body.includes('scope: hsm'));
    expect(onHsm).toBeDefined();
    expect(onHsm).toMatch(/condition: condition/);
    expect(onHsm).toMatch(/conditionVersion: '2\.0'/);
    expect(bicep).toMatch(/ActionMatches\{\\'Microsoft\.Authorization\/roleAssignments\/write\\'\}\)\) OR \(@Request\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals/);
    expect(bicep).toMatch(/ActionMatches\{\\'Microsoft\.Authorization\/roleAssignments\/delete\\'\}\)\) OR \(@Resource\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals/);
  });

  it('gives the HSM local RBAC role exactly the permissions the emulator seed runs the service with, and no key operation', () => {
    const role = JSON.parse(read('infra/hsm-governor-role.json')) as { name: string; dataActions: string[] };
    const seed = JSON.parse(read('examples/contoso/hsm-seed.json')) as { roleDefinitions: { name: string; dataActions: string[] }[] };
    const seeded = seed.roleDefinitions.find((d) => d.name === role.name);
    expect(seeded?.dataActions.slice().sort()).toEqual(role.dataActions.slice().sort());
    expect(role.dataActions.filter((action) => /\/keys\/(?!read\/)/.test(action))).toEqual([]);
    const policy = loadPolicyFile(join(root, 'examples/contoso/policy.yaml'));
    expect(policy.customRoles.map((r) => r.id)).toContain(role.name);
  });
});

describe('infra: app settings', () => {
  it('sets only settings the README documents', () => {
    const main = read('infra/main.bicep');
    const readme = read('README.md');
    const names = [...main.matchAll(/\{ name: '([A-Za-z_]+)', value:/g)].map((m) => m[1]!);
    const platformSettings = new Set(['AzureWebJobsStorage__credential', 'AzureWebJobsStorage__clientId', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'APPLICATIONINSIGHTS_CONNECTION_STRING']);
    const undocumented = names.filter((name) => !platformSettings.has(name) && !readme.includes(`\`${name}\``));
    expect(names.length).toBeGreaterThan(8);
    expect(undocumented).toEqual([]);
  });

  it('routes inbound events to the app\'s Event Grid trigger and pre-creates the queues the app uses', () => {
    const main = read('infra/main.bicep');
    const trigger = /resourceId: '\$\{app\.id\}\/functions\/([\w-]+)'/.exec(main)?.[1];
    expect(read('functions/events.ts')).toMatch(new RegExp(`app\\.eventGrid\\('${trigger}'`));
    const queues = /for name in \[([^\]]+)\]/.exec(main)?.[1]?.match(/'[^']+'/g)?.map((q) => q.slice(1, -1));
    expect(queues?.sort()).toEqual([REVOCATION_QUEUE, RECONCILE_QUEUE].sort());
  });
});
