import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PERSONAS } from '../../dev/personas';
import { eventually } from '../helpers/poll';
import { withStack } from '../helpers/stack';

const REPO_ROOT = resolve(__dirname, '..', '..');

interface HealthBody {
  status: string;
  checkedAt?: string;
  checks: Record<string, { ok: boolean; ms: number; error?: string }>;
}

describe('startStack', () => {
  it('is healthy with every part running, and says which dependency is down', async () => {
    await withStack({}, async ({ stack, api }) => {
      const endpoints = JSON.parse(readFileSync(join(stack.dataDir, 'endpoints.json'), 'utf8')) as Record<string, string>;
      expect(endpoints).toEqual(expect.objectContaining({
        api: stack.host.url, hsm: stack.hsm.url, hsmCaFile: stack.hsm.caFile, storageConnectionString: stack.azurite.connectionString, storageCaFile: stack.azurite.caFile, idp: stack.idp.url, hostKey: stack.host.hostKey,
      }));

      const healthy = await api('/api/health');
      expect(healthy.status).toBe(200);
      expect(healthy.headers.get('cache-control')).toBe('no-store');
      expect(await healthy.json()).toEqual({ status: 'ok' });
      const detailed = (await (await api('/api/health', { persona: 'sam' })).json()) as HealthBody;
      expect(detailed).toEqual({ status: 'ok', checkedAt: expect.any(String), checks: { storage: { ok: true, ms: expect.any(Number) }, hsm: { ok: true, ms: expect.any(Number) } } });
      // As in Azure, a method the route does not take is not found.
      expect((await api('/api/health', { method: 'POST', body: '' })).status).toBe(404);

      await stack.hsm.close();
      // The probe's answer is reused for a few seconds: the outage shows once it is probed again.
      const hsmDown = await eventually('the health check to see the HSM down', () => api('/api/health', { persona: 'sam' }), (r) => r.status === 503, { timeoutMs: 15_000, intervalMs: 500 });
      const hsmDownText = await hsmDown.text();
      const hsmDownBody = JSON.parse(hsmDownText) as HealthBody;
      expect(hsmDownBody.status).toBe('unavailable');
      expect(hsmDownBody.checks.storage.ok).toBe(true);
      expect(hsmDownBody.checks.hsm).toEqual({ ok: false, ms: expect.any(Number), error: expect.any(String) });
      expect(hsmDownText).not.toMatch(/\bat .*\.(ts|js):\d+|Bearer|AccountKey|IDENTITY_HEADER/);
      const anonymousDown = await api('/api/health');
      expect(anonymousDown.status).toBe(503);
      expect(await anonymousDown.json()).toEqual({ status: 'unavailable' });

      await stack.azurite.close();
      const bothDown = (await (await eventually('the health check to see storage down', () => api('/api/health', { persona: 'sam' }).then((r) => r.json() as Promise<HealthBody>), (b) => !b.checks.storage.ok, { timeoutMs: 15_000, intervalMs: 500 })));
      expect(bothDown.checks.storage.ok).toBe(false);
      expect(bothDown.checks.hsm.ok).toBe(false);
    });
  });
});

function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => done({ code, signal }));
  });
}

/** True once no process of the group is left (the stack's node process exited, not just npm). */
async function groupGone(group: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-group, 0);
    } catch {
      return true;
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  return false;
}

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('npm start', () => {
  let dataDir: string;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(-child.pid, 'SIGKILL');
      await waitForExit(child);
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('becomes healthy, hands out tokens, and stops cleanly on Ctrl-C', async () => {
    const launched = Date.now();
    // Its own process group, so that SIGINT reaches npm and the stack together, as Ctrl-C in a terminal does.
    child = spawn('npm', ['start', '--', '--data-dir', dataDir, '--random-ports'], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });

    const ready = await new Promise<boolean>((done) => {
      const poll = setInterval(() => {
        if (/Ready in [\d.]+ s \(health 200\)/.test(output)) finish(true);
        // No time bound of its own: how long a start takes depends on the machine's load (bench/ measures it).
        else if (child?.exitCode !== null || Date.now() - launched > 150_000) finish(false);
      }, 100);
      const finish = (value: boolean): void => {
        clearInterval(poll);
        done(value);
      };
    });
    if (!ready) throw new Error(`npm start did not become ready:\n${output}`);
    expect(Number(/Ready in ([\d.]+) s/.exec(output)?.[1])).toBeGreaterThan(0);

    const endpoints = JSON.parse(readFileSync(join(dataDir, 'endpoints.json'), 'utf8')) as { api: string };
    expect(output).toContain(`${endpoints.api}/api`);
    expect(output).toContain('npm run -s token -- sam');
    expect((await fetch(`${endpoints.api}/api/health`)).status).toBe(200);

    const token = await run('npm', ['run', '-s', 'token', '--', 'sam', '--data-dir', dataDir]);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const me = await fetch(`${endpoints.api}/.auth/me`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
    expect(((await me.json()) as Array<{ user_id: string }>)[0].user_id).toBe(PERSONAS.sam.upn);
    const hsmToken = await run('npm', ['run', '-s', 'token', '--', 'sam', '--audience', 'hsm', '--data-dir', dataDir]);
    const hsmClaims = JSON.parse(Buffer.from(hsmToken.stdout.trim().split('.')[1], 'base64url').toString('utf8')) as { aud: string };
    expect(hsmClaims.aud).toBe('https://managedhsm.azure.net');

    const group = child.pid as number;
    process.kill(-group, 'SIGINT');
    const exit = await waitForExit(child);
    // npm itself ends by the SIGINT it received (as after Ctrl-C in a terminal); the stack exits 0 once closed.
    expect([JSON.stringify({ code: 0, signal: null }), JSON.stringify({ code: null, signal: 'SIGINT' })]).toContain(JSON.stringify(exit));
    expect(await groupGone(group, 10_000)).toBe(true);
    expect(output).toMatch(/SIGINT: stopping the local stack\.\.\.\s+Stopped\./);
    expect(output).not.toMatch(/Stopping failed|Second SIGINT/);
    await expect(fetch(`${endpoints.api}/api/health`)).rejects.toThrow();
  }, 240_000);
});
