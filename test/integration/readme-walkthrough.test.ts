import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useStack } from '../helpers/stack';

/**
 * The README's walkthrough, pasted into bash as a newcomer would, against the local stack (its port
 * instead of 7071, its data directory instead of .data): every command succeeds but those the README
 * marks "# refused", which the HSM refuses (exit 4).
 */
const REPO_ROOT = join(__dirname, '..', '..');
const stack = useStack();

function walkthrough(name: string): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- walkthrough:${name} -->\\n\`\`\`bash\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match) throw new Error(`README.md has no walkthrough:${name} block`);
  return match[1].replace(/\\\n/g, ' ').split('\n').filter((line) => line.trim() !== '');
}

interface Step {
  line: string;
  code: number;
  output: string;
}

/** Runs the lines in one bash, as pasted: each line's exit code and output. */
function paste(lines: readonly string[]): Promise<Step[]> {
  const api = stack().stack.endpoints.api;
  const script = lines.map((line, i) => `echo "<<<${i}"; ${line.replaceAll('http://127.0.0.1:7071', api)}\necho ">>>$?"`).join('\n');
  const env = { ...process.env, HSM_GOVERNOR_DATA_DIR: stack().stack.dataDir, HSMGOV_CONFIG: join(mkdtempSync(join(tmpdir(), 'hsmgov-readme-')), 'config.json') };
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let all = '';
    child.stdout.on('data', (chunk: Buffer) => (all += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (all += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const steps = [...all.matchAll(/<<<(\d+)\n([\s\S]*?)>>>(\d+)\n/g)].map((m) => ({ line: lines[Number(m[1])], output: m[2], code: Number(m[3]) }));
      resolve(steps);
    });
  });
}

function expectAsTheReadmeSays(steps: readonly Step[], lines: readonly string[]): void {
  expect(steps.map((s) => s.line)).toEqual(lines);
  for (const step of steps) {
    const expected = /# refused/.test(step.line) ? 4 : 0;
    if (step.code !== expected) throw new Error(`README line failed (exit ${step.code}, expected ${expected}):\n${step.line}\n${step.output}`);
  }
  const signs = steps.filter((s) => / as -- app-vm sign /.test(s.line));
  expect(signs.map((s) => s.output.split('\n')[0])).toEqual(['app-vm signed "hello" with release-signing-key (RS256, SHA-256 digest)', expect.stringMatching(/^Refused: the HSM answered 403 to app-vm/)]);
}

describe('the README walkthrough', () => {
  it('works pasted as it is: the CLI asks, approves, app-vm signs, revokes, app-vm is refused', async () => {
    const lines = walkthrough('cli');
    const steps = await paste(lines);
    expectAsTheReadmeSays(steps, lines);
    expect(steps.find((s) => /hsmgov show/.test(s.line))?.output).toMatch(/status:\s+Pending/);
    expect(steps.find((s) => /hsmgov approve/.test(s.line))?.output).toMatch(/status:\s+Active/);
  }, 600_000);

  it('works pasted as it is with curl', async () => {
    const lines = walkthrough('curl');
    const steps = await paste(lines);
    expectAsTheReadmeSays(steps, lines);
    expect(steps.find((s) => /decisions/.test(s.line))?.output).toMatch(/"status":"(Approved|Active)"/);
  }, 600_000);
});
