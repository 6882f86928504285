import { readFileSync } from 'fs';
import { join } from 'path';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { POLICY_SCHEMA, policySchemaJson } from '../../../shared/domain/policy/schema';
import { PolicyError } from '../../../shared/domain/policy/types';
import { G, MINIMAL_POLICY, OID, REPO_ROOT } from './fixtures';

function errorOf(text: string, source = 'test.yaml'): PolicyError {
  try {
    parsePolicy(text, source);
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('expected a PolicyError');
}

describe('policy schema', () => {
  it('docs/policy.schema.json is generated from POLICY_SCHEMA', () => {
    const onDisk = readFileSync(join(REPO_ROOT, 'docs', 'policy.schema.json'), 'utf8');
    expect(onDisk).toBe(JSON.stringify(POLICY_SCHEMA, null, 2) + '\n');
    expect(policySchemaJson()).toBe(onDisk);
  });

  it('is draft 2020-12 with titles and descriptions', () => {
    expect(POLICY_SCHEMA.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(POLICY_SCHEMA.properties.eligibility.description).toBeTruthy();
  });
});

describe('parsePolicy', () => {
  it('parses a minimal policy with defaults applied', () => {
    const policy = parsePolicy(MINIMAL_POLICY, 'min.yaml');
    expect(policy.defaultHsm).toBe('h1');
    expect(policy.defaults).toMatchObject({ pendingLifetimeMs: 86_400_000, minDurationMs: 60_000, privilegedMinApprovers: 2 });
    expect(policy.defaults.privilegedRoleIds).toHaveLength(3);
    const rule = policy.eligibility[0]!;
    expect(rule).toMatchObject({ id: 'r1', allowSelf: true, requireJustification: true, requireTicket: false, privileged: false, defaultDurationMs: 3_600_000, maxDurationMs: 7_200_000 });
    expect(rule.approval).toEqual({ approvers: ['sec'], approverObjectIds: [G.securityTeam], count: 1 });
    expect(rule.requesterObjectIds).toEqual([OID.alice]);
  });

  it('defaultDuration defaults to maxDuration', () => {
    const policy = parsePolicy(MINIMAL_POLICY.replace('    defaultDuration: PT1H\n', ''), 'min.yaml');
    expect(policy.eligibility[0]!.defaultDurationMs).toBe(7_200_000);
  });

  it('reports YAML syntax errors with line and column', () => {
    const err = errorOf('version: 1\nhsms: [\n  - a\n', 'broken.yaml');
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.issues[0]!.line).toBeGreaterThanOrEqual(2);
    expect(err.message).toMatch(/^Invalid policy broken\.yaml/);
    expect(err.message).toMatch(/broken\.yaml:\d+:\d+ \(document\) YAML:/);
  });

  it('reports duplicate keys as YAML errors', () => {
    const err = errorOf(MINIMAL_POLICY.replace('version: 1\n', 'version: 1\nversion: 1\n'));
    expect(err.issues[0]!.message).toMatch(/YAML/);
    expect(err.issues[0]!.line).toBe(2);
  });

  it('reports every schema error with its path, line and column', () => {
    const text = MINIMAL_POLICY.replace('maxDuration: PT2H', 'maxDuration: 2 hours').replace('    for: self\n', '    for: 3\n    colour: blue\n');
    const err = errorOf(text, 'p.yaml');
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i]));
    expect(byPath['eligibility[0].maxDuration']).toMatchObject({ line: 18, column: 18, message: expect.stringMatching(/ISO 8601/) });
    expect(byPath['eligibility[0].colour']).toMatchObject({ line: 14, column: 5, message: 'is not a known property' });
    expect(byPath['eligibility[0].for']).toMatchObject({ line: 13, column: 10, message: "must be 'self' or a list of principal aliases" });
    expect(err.message).toContain("p.yaml:18:18 eligibility[0].maxDuration (rule 'r1') '2 hours' is not an ISO 8601 duration: use e.g. PT1H");
  });

  it('reports a missing required property at the parent', () => {
    const err = errorOf(MINIMAL_POLICY.replace('    url: https://h1.managedhsm.azure.net\n', ''));
    expect(err.issues).toEqual([expect.objectContaining({ path: 'hsms[0]', line: 3, message: "is missing required property 'url'" })]);
  });

  it('refuses an empty document and a non-object', () => {
    expect(errorOf('').issues[0]!.message).toMatch(/must be object/);
    expect(errorOf('- 1\n').issues[0]!.message).toMatch(/must be object/);
  });

  it('refuses plain http HSM urls and bad object ids', () => {
    const err = errorOf(MINIMAL_POLICY.replace('https://h1', 'http://h1').replace(OID.alice, 'not-a-guid'));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['hsms[0].url', 'principals.alice.objectId']);
  });

  const semantic: Array<[string, (t: string) => string, string, RegExp]> = [
    ['unknown requester alias', (t) => t.replace('requesters: [alice]', 'requesters: [bob]'), 'eligibility[0].requesters[0]', /unknown principal 'bob'/],
    ['unknown approver alias', (t) => t.replace('approvers: [sec]', 'approvers: [nobody]'), 'eligibility[0].approval.approvers[0]', /unknown principal 'nobody'/],
    ['unknown target alias', (t) => t.replace('for: self', 'for: [self, ghost]'), 'eligibility[0].for[1]', /unknown principal 'ghost'/],
    ['group as target', (t) => t.replace('for: self', 'for: [sec]'), 'eligibility[0].for[0]', /is a group/],
    ['unknown role', (t) => t.replace('roles: [Crypto User]', 'roles: [Crypto User, Key Wizard]'), 'eligibility[0].roles[1]', /unknown role 'Key Wizard'/],
    ['invalid scope pattern', (t) => t.replace('scopes: [/keys/*]', 'scopes: [/keys/../x]'), 'eligibility[0].scopes[0]', /'\.'|'\.\.'/],
    ['unsupported pattern', (t) => t.replace('scopes: [/keys/*]', 'scopes: ["/keys/app-*"]'), 'eligibility[0].scopes[0]', /key name/],
    ['maxDuration < defaultDuration', (t) => t.replace('maxDuration: PT2H', 'maxDuration: PT30M'), 'eligibility[0].maxDuration', /shorter than defaultDuration/],
    ['minDuration > maxDuration', (t) => t.replace('maxDuration: PT2H', 'maxDuration: PT2H\n    minDuration: PT3H'), 'eligibility[0].minDuration', /longer than maxDuration/],
    ['default minDuration > maxDuration', (t) => t.replace('defaultDuration: PT1H\n    maxDuration: PT2H', 'defaultDuration: PT30S\n    maxDuration: PT30S'), 'eligibility[0].maxDuration', /minDuration PT1M is longer than maxDuration PT30S/],
    ['approvals without approvers', (t) => t.replace('approvers: [sec]', 'approvers: []'), 'eligibility[0].approval.approvers', /no approvers/],
    ['count 0 with approvers', (t) => t.replace('count: 1', 'count: 0'), 'eligibility[0].approval.count', /approval: none/],
    ['more approvals than named users', (t) => t.replace('approvers: [sec]', 'approvers: [sam]').replace('count: 1', 'count: 2'), 'eligibility[0].approval.count', /only 1 are named/],
    ['privileged role with one approver', (t) => t.replace('roles: [Crypto User]', 'roles: [Crypto Officer]').replace('scopes: [/keys/*]', 'scopes: [/]'), 'eligibility[0].approval', /privileged role Managed HSM Crypto Officer: needs at least 2/],
    ['privileged role without approval', (t) => t.replace('roles: [Crypto User]', 'roles: [Administrator]').replace(/approval:\n {6}approvers: \[sec\]\n {6}count: 1\n/, 'approval: none\n'), 'eligibility[0].approval', /needs at least 2 approvers .* has 0/],
    ['privileged by policy override', (t) => `${t}defaults:\n  privilegedRoles: [Crypto User]\n`, 'eligibility[0].approval', /privileged role Managed HSM Crypto User/],
    ['privilegedMinApprovers override', (t) => `${t.replace('roles: [Crypto User]', 'roles: [Crypto Officer]')}defaults:\n  privilegedMinApprovers: 3\n`, 'eligibility[0].approval', /at least 3/],
    ['duplicate rule id', (t) => t + t.slice(t.indexOf('  - id: r1')), 'eligibility[1].id', /duplicate rule id 'r1'/],
    ['duplicate object id', (t) => t.replace(`app: { objectId: ${OID.appVm}`, `app: { objectId: ${OID.alice.toUpperCase()}`), 'principals.app.objectId', /already used by principal 'alice'/],
    ['members on a user', (t) => t.replace(`alice: { objectId: ${OID.alice}, type: User }`, `alice: { objectId: ${OID.alice}, type: User, members: [sam] }`), 'principals.alice.members', /only a Group/],
    ['unknown group member', (t) => t.replace('members: [sam]', 'members: [sam, zed]'), 'principals.sec.members[1]', /unknown principal 'zed'/],
    ['unknown rule hsm', (t) => t.replace('    approval:', '    hsm: h2\n    approval:'), 'eligibility[0].hsm', /unknown HSM 'h2'/],
    ['two default HSMs', (t) => t.replace('    url: https://h1.managedhsm.azure.net\n', '    url: https://h1.managedhsm.azure.net\n    default: true\n  - name: h2\n    url: https://h2.managedhsm.azure.net\n    default: true\n'), 'hsms', /more than one HSM/],
    ['duplicate HSM name', (t) => t.replace('    url: https://h1.managedhsm.azure.net\n', '    url: https://h1.managedhsm.azure.net\n  - name: H1\n    url: https://h2.managedhsm.azure.net\n'), 'hsms[1].name', /duplicate HSM name/],
    ['invalid ticket pattern', (t) => t.replace('    approval:', '    ticketPattern: "(["\n    approval:'), 'eligibility[0].ticketPattern', /not a valid regular expression/],
    ['standing unknown principal', (t) => `${t}standing:\n  - { principal: nope, role: Crypto User, scope: / }\n`, 'standing[0].principal', /unknown principal/],
    ['standing malformed scope', (t) => `${t}standing:\n  - { principal: app, role: Crypto User, scope: "/keys/a%2Fb" }\n`, 'standing[0].scope', /percent/],
    ['standing unknown role', (t) => `${t}standing:\n  - { principal: app, role: Superuser, scope: / }\n`, 'standing[0].role', /unknown role/],
    ['protected unknown principal', (t) => `${t}protected:\n  - { principal: nope }\n`, 'protected[0].principal', /unknown principal/],
    ['forbidden unknown principal', (t) => `${t}forbidden:\n  - { principal: nope }\n`, 'forbidden[0].principal', /unknown principal/],
    ['forbidden principal with a standing assignment', (t) => `${t}standing:\n  - { principal: app, role: Crypto User, scope: / }\nforbidden:\n  - { principal: app }\n`, 'standing[0].principal', /forbidden/],
    ['forbidden principal as a rule target', (t) => `${t.replace('for: self', 'for: [app]')}forbidden:\n  - { principal: app }\n`, 'eligibility[0].for[0]', /forbidden/],
    ['custom role reusing a built-in id', (t) => `${t}customRoles:\n  - { name: Mine, id: 21dbd100-6940-42c2-9190-5d6cb909625b }\n`, 'customRoles[0].id', /built-in/],
  ];

  it.each(semantic)('semantic error: %s', (_name, mutate, path, message) => {
    const err = errorOf(mutate(MINIMAL_POLICY), 'm.yaml');
    const issue = err.issues.find((i) => i.path === path);
    expect({ issues: err.issues, found: issue?.message }).toEqual(expect.objectContaining({ found: expect.stringMatching(message) }));
    expect(issue!.line).toBeGreaterThan(0);
    expect(issue!.column).toBeGreaterThan(0);
    expect(err.message).toContain(`m.yaml:${issue!.line}:${issue!.column} ${path} `);
  });

  it('accepts custom roles and their privilege flag', () => {
    const text = `${MINIMAL_POLICY.replace('roles: [Crypto User]', 'roles: [Rotator]')}customRoles:\n  - { name: Contoso Rotator, alias: Rotator, id: 11111111-2222-3333-4444-555555555555, canWriteRoleAssignments: true }\n`;
    const err = errorOf(text);
    expect(err.issues[0]!.message).toMatch(/privileged role Contoso Rotator/);
    const ok = parsePolicy(text.replace('count: 1', 'count: 2'), 'x.yaml');
    expect(ok.eligibility[0]!.roles[0]!.id).toBe('11111111-2222-3333-4444-555555555555');
    expect(ok.eligibility[0]!.privileged).toBe(true);
  });

  it('lists several problems at once', () => {
    const text = MINIMAL_POLICY.replace('requesters: [alice]', 'requesters: [bob]').replace('roles: [Crypto User]', 'roles: [Nope]');
    const err = errorOf(text);
    expect(err.issues.map((i) => i.path)).toEqual(['eligibility[0].requesters[0]', 'eligibility[0].roles[0]']);
  });
});
