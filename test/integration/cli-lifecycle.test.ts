import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actAsWorkload, WorkloadError } from '../../dev/workload';
import { EXIT } from '../../cli/exitCodes';
import { CONTOSO_POLICY_PATH, contosoPolicyText } from '../unit/domain/fixtures';
import { hsmgov } from '../helpers/cli';
import { useStack } from '../helpers/stack';

/** The whole lifecycle through `hsmgov` against the local stack, as people (tables) and scripts (--json) use it. */
const stack = useStack();
const configs = mkdtempSync(join(tmpdir(), 'hsmgov-configs-'));
const as = (persona: string): NodeJS.ProcessEnv => ({ HSMGOV_CONFIG: join(configs, `${persona}.json`) });
const cli = (persona: string, ...argv: string[]) => hsmgov(argv, as(persona));
const sign = () => actAsWorkload({ persona: 'app-vm', operation: 'sign', key: 'release-signing-key', text: 'release 1.4.0', dataDir: stack().stack.dataDir });
const ASK = ['request', '--role', 'Crypto User', '--key', 'release-signing-key', '--for', 'app-vm', '--duration', '1h', '--reason', 'Release 1.4.0'];

beforeAll(async () => {
  for (const persona of ['dave', 'sam', 'alice']) {
    const login = await cli(persona, 'login', '--persona', persona, '--data-dir', stack().stack.dataDir);
    expect(login).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Signed in as /) });
  }
}, 120_000);

describe('hsmgov against the local stack', () => {
  it('eligible: the rules dave may use, with the real keys and grantees by name, in a table and as JSON', async () => {
    const listed = await cli('dave', 'eligible');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^RULE\s+ROLES\s+KEYS\s+FOR\s+DEFAULT\s+MAX\s+APPROVALS/);
    expect(listed.stdout).toMatch(/^release-signing\s+.*release-signing-key.*app-vm/m);
    const json = await cli('dave', 'eligible', '--json');
    const rules = (JSON.parse(json.stdout) as { rules: Array<{ id: string }> }).rules.map((rule) => rule.id);
    expect(rules).toContain('release-signing');
    // Rules dave may not use are not his to see.
    expect(rules).not.toContain('security-privileged');
  });

  it('in tables: dave asks by names, sam approves by the short id, app-vm signs, dave revokes, app-vm is refused', async () => {
    await expect(sign()).rejects.toMatchObject({ exitCode: 4, message: expect.stringMatching(/^Refused: the HSM answered 403 to app-vm/) });

    const asked = await cli('dave', ...ASK);
    expect(asked.code).toBe(0);
    expect(asked.stdout).toMatch(/status:\s+Pending/);
    expect(asked.stdout).toMatch(/for:\s+app-vm \(2c564836-0f4a-4ada-9cc4-6b2363d7a09e\)/);
    const id = /id:\s+([0-9a-f-]{36})/.exec(asked.stdout)?.[1] as string;

    const waiting = await cli('sam', 'list', '--status', 'Pending');
    expect(waiting.stdout).toMatch(new RegExp(`^ID\\s+STATUS\\s+ROLE\\s+SCOPE\\s+FOR\\s+BY\\s+PROGRESS\\n${id.slice(0, 8)}\\s+Pending\\s+Crypto User\\s+/keys/release-signing-key\\s+app-vm\\s+dave\\s+0/1 approvals`, 'm'));

    const selfApproval = await cli('dave', 'approve', id);
    expect(selfApproval.code).toBe(EXIT.forbidden);
    expect(selfApproval.stderr).toMatch(/^hsmgov: .+ \([a-z-]+\)\n$/);

    expect((await cli('sam', 'approve', id.slice(0, 8), '--comment', 'ok for 1.4.0')).code).toBe(0);
    const waited = await cli('dave', 'wait', id, '--timeout', '1m');
    expect(waited.code).toBe(EXIT.ok);
    expect(waited.stdout).toMatch(/status:\s+Active/);
    expect(waited.stdout).toMatch(/progress:\s+(59m \d+s|1h) left/);

    expect(await sign()).toMatch(/^app-vm signed "release 1.4.0" with release-signing-key \(RS256, SHA-256 digest\)\nkey: +https:\/\/127\.0\.0\.1:\d+\/keys\/release-signing-key\/\w+\nsignature: [\w-]{300,}\n$/);

    const revoked = await cli('dave', 'revoke', id, '--reason', 'release done');
    expect(revoked.stdout).toMatch(/status:\s+Revoked/);
    await expect(sign()).rejects.toBeInstanceOf(WorkloadError);

    const again = await cli('dave', 'revoke', id); // revoking is idempotent: the same answer again
    expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/status:\s+Revoked/) });
    const audit = await cli('alice', 'audit', '--key', 'release-signing-key');
    expect(audit.stdout).toMatch(/^SEQ\s+AT\s+WHAT\s+WHO\s+REQUEST/);
    expect(audit.stdout).toMatch(new RegExp(`request.created\\s+dave\\s+${id.slice(0, 8)}`));
    expect(audit.stdout).toMatch(new RegExp(`request.revoked\\s+dave\\s+${id.slice(0, 8)}`));
    // The service filters: only this request's approvals, by who made them.
    const approvals = await cli('alice', 'audit', '--request', id, '--action', 'request.approved', '--who', 'sam', '--json');
    const records = (JSON.parse(approvals.stdout) as { items: Array<{ action: string; requestId: string }> }).items;
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.action === 'request.approved' && r.requestId === id)).toBe(true);
  });

  it('with --json: the same lifecycle for scripts, a denial ends wait with exit 7, refusals carry the problem', async () => {
    const asked = await cli('dave', ...ASK, '--json', '--idempotency-key', 'release-1.4.0-json');
    const { id, status } = asked.json<{ id: string; status: string }>();
    expect(status).toBe('Pending');
    const replay = await cli('dave', ...ASK, '--json', '--idempotency-key', 'release-1.4.0-json');
    expect(replay.json()).toMatchObject({ id });

    const denied = await cli('sam', 'deny', id, '--comment', 'not this week', '--json');
    expect(denied.json()).toMatchObject({ id, status: 'Denied', decisions: [{ decision: 'deny', comment: 'not this week' }] });
    const waited = await cli('dave', 'wait', id, '--json');
    expect(waited.code).toBe(EXIT.ended);
    expect(waited.json()).toMatchObject({ status: 'Denied' });

    const tooLong = await cli('dave', ...ASK.map((a) => (a === '1h' ? '9h' : a)), '--json');
    expect(tooLong.code).toBe(EXIT.refused);
    expect(JSON.parse(tooLong.stderr)).toMatchObject({ exitCode: EXIT.refused, problem: { code: 'duration-too-long', detail: expect.any(String) } });
    expect(tooLong.stdout).toBe('');

    const second = (await cli('dave', ...ASK, '--json')).json<{ id: string }>();
    await cli('sam', 'approve', second.id, '--json');
    const active = await cli('dave', 'wait', second.id, '--json', '--timeout', '1m');
    expect(active.json()).toMatchObject({ status: 'Active', expiresAt: expect.any(String) });
    expect(await sign()).toMatch(/^app-vm signed/);
    const listed = await cli('alice', 'list', '--status', 'Active', '--json');
    expect(listed.json<{ items: { id: string }[] }>().items.map((r) => r.id)).toContain(second.id);

    const next = join(mkdtempSync(join(tmpdir(), 'hsmgov-policy-')), 'new.yaml');
    writeFileSync(next, contosoPolicyText().replace(/defaultDuration: PT1H\n {4}maxDuration: PT8H/, 'defaultDuration: PT30M\n    maxDuration: PT30M'));
    const diff = await cli('sam', 'policy', 'diff', next, '--current', CONTOSO_POLICY_PATH, '--json');
    expect(diff.code).toBe(EXIT.changes);
    expect(diff.json()).toMatchObject({ unjustifiedGrants: [{ requestId: second.id, code: 'duration-too-long' }] });

    const revoked = await cli('dave', 'revoke', second.id, '--json');
    expect(revoked.json()).toMatchObject({ status: 'Revoked' });
    await expect(sign()).rejects.toMatchObject({ exitCode: 4 });
  });

  it('reconcile plan and the reports, for administrators and auditors only', async () => {
    const plan = await cli('sam', 'reconcile', 'plan', '--json');
    expect(plan.code).toBe(0);
    expect(plan.json()).toMatchObject({ run: { mode: 'plan' } });
    expect((await cli('sam', 'reconcile', 'plan')).stdout).toMatch(/^Run \S+: \w+\n(\(none\)|KIND)/);
    const access = await cli('alice', 'report', 'access');
    expect(access.stdout).toMatch(/^Access on contoso-hsm as of /);
    expect(access.stdout).toMatch(/app-signing-key\s+app-vm\s+Crypto User\s+standing/);
    expect((await cli('alice', 'report', 'keys', '--json')).json()).toMatchObject({ hsm: 'contoso-hsm' });
    const refused = await cli('dave', 'reconcile', 'plan');
    expect(refused).toMatchObject({ code: EXIT.forbidden, stderr: 'hsmgov: Only HSM administrators run reconciliation (not-an-administrator)\n' });
  });
});
