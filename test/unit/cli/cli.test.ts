import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, exitForStatus } from '../../../cli/exitCodes';
import { cell, isoDuration, spanInWords, table } from '../../../cli/format';
import { scopeOf } from '../../../cli/commands/requests';
import { contosoPolicyText, CONTOSO_POLICY_PATH } from '../domain/fixtures';
import { hsmgov } from '../../helpers/cli';

const noConfig = (): NodeJS.ProcessEnv => ({ HSMGOV_CONFIG: join(mkdtempSync(join(tmpdir(), 'hsmgov-')), 'config.json') });

describe('hsmgov input and output', () => {
  it('takes durations as people write them and sends ISO 8601', () => {
    expect(isoDuration('1h')).toBe('PT1H');
    expect(isoDuration('90m')).toBe('PT1H30M');
    expect(isoDuration('1h30m')).toBe('PT1H30M');
    expect(isoDuration('2d')).toBe('P2D');
    expect(isoDuration('pt45m')).toBe('PT45M');
    expect(() => isoDuration('an hour')).toThrow(/not a duration/);
    expect(() => isoDuration('1h and more')).toThrow(/not a duration/);
  });

  it('turns a key name into its scope and leaves scopes alone', () => {
    expect(scopeOf('release-signing-key', undefined)).toBe('/keys/release-signing-key');
    expect(scopeOf(undefined, '/')).toBe('/');
    expect(() => scopeOf(undefined, undefined)).toThrow(/--key/);
  });

  it('pads tables and shows control characters instead of sending them to the terminal', () => {
    expect(table(['A', 'BB'], [['x', 'y'], ['long', 'z']])).toBe('A     BB\nx     y\nlong  z\n');
    expect(table(['A'], [])).toBe('(none)\n');
    expect(cell('Release\u001b[31m red')).toBe('Release\\u001b[31m red');
    expect(spanInWords(3_725_000)).toBe('1h 2m');
    expect(spanInWords(42_000)).toBe('42s');
  });

  it('maps the API statuses to the documented exit codes', () => {
    expect([401, 403, 404, 409, 422, 400, 503].map(exitForStatus)).toEqual([EXIT.unauthenticated, EXIT.forbidden, EXIT.notFound, EXIT.refused, EXIT.refused, EXIT.refused, EXIT.unavailable]);
  });
});

describe('hsmgov commands without a service', () => {
  it('says to log in first, with exit 3', async () => {
    const result = await hsmgov(['list'], noConfig());
    expect(result.code).toBe(EXIT.unauthenticated);
    expect(result.stderr).toMatch(/Not signed in: run 'hsmgov login' first/);
  });

  it('answers a wrong command line with exit 2 and help', async () => {
    const unknown = await hsmgov(['frobnicate'], noConfig());
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const missing = await hsmgov(['request', '--key', 'release-signing-key'], noConfig());
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.stderr).toMatch(/--role/);
    const login = await hsmgov(['login'], noConfig());
    expect(login.code).toBe(EXIT.usage);
    expect(login.stderr).toMatch(/--persona NAME .*--azure-cli, --device-code or --browser/);
  });

  it('puts errors in JSON on stderr for scripts', async () => {
    const result = await hsmgov(['list', '--json'], noConfig());
    expect(JSON.parse(result.stderr)).toMatchObject({ exitCode: EXIT.unauthenticated, error: expect.stringMatching(/Not signed in/) });
    expect(result.stdout).toBe('');
  });

  it('prints a bash completion that knows every command and their options', async () => {
    const result = await hsmgov(['completion', 'bash'], noConfig());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/complete -F _hsmgov hsmgov/);
    for (const word of ['login', 'request', 'approve', 'wait', 'audit', 'reconcile', 'report', 'policy', '--json']) expect(result.stdout).toContain(word);
    expect(result.stdout).toMatch(/"request"\) words="[^"]*--role[^"]*--key[^"]*--for[^"]*--duration/);
    expect(result.stdout).toMatch(/"reconcile"\) words="plan apply/);
    expect((await hsmgov(['completion', 'fish'], noConfig())).code).toBe(EXIT.usage);
  });

  it('policy diff --offline compares two files: exit 0 when nothing changes, 10 with the standing assignment that would become drift', async () => {
    const same = await hsmgov(['policy', 'diff', CONTOSO_POLICY_PATH, '--current', CONTOSO_POLICY_PATH, '--offline'], noConfig());
    expect(same.code).toBe(EXIT.ok);
    const next = join(mkdtempSync(join(tmpdir(), 'hsmgov-policy-')), 'new.yaml');
    writeFileSync(next, contosoPolicyText().replace(/ {2}- principal: log-storage\n {4}role: Crypto Service Encryption User\n {4}scope: \/keys\/storage-cmk\n/, ''));
    const changed = await hsmgov(['policy', 'diff', next, '--current', CONTOSO_POLICY_PATH, '--offline'], noConfig());
    expect(changed.code).toBe(EXIT.changes);
    expect(changed.stdout).toMatch(/Standing assignments that would become drift \(1\)\n.*\nunexpected\s+contoso-hsm\s+log-storage/);
    const json = await hsmgov(['policy', 'diff', next, '--current', CONTOSO_POLICY_PATH, '--offline', '--json'], noConfig());
    expect(json.json()).toMatchObject({ requestsChecked: 0, standing: [{ kind: 'unexpected', principal: 'log-storage' }] });
  });

  it('policy diff refuses an invalid new policy with its line numbers, exit 2', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'hsmgov-policy-')), 'bad.yaml');
    writeFileSync(bad, contosoPolicyText().replace('maxDuration: PT8H', 'maxDuration: soon'));
    const result = await hsmgov(['policy', 'diff', bad, '--current', CONTOSO_POLICY_PATH, '--offline'], noConfig());
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/bad\.yaml:\d+:\d+ eligibility\[2\]\.maxDuration/);
  });
});
