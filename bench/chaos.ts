/**
 * Revocation and grant lags, for a chaos run (app instances killed with SIGKILL, two at once for a
 * stretch, 20% HSM faults) and a calm run (no kills, no faults) in one invocation, each goal of
 * issue #11 shown as PASS/FAIL with its figure:
 *   - revocation lag (expiry or a revoke's 200 to the assignment gone) p99 <= 5 s with chaos, <= 2 s calm;
 *   - no grant alive past expiry + 60 s (the largest expiry lag);
 *   - a grant live within 5 s of its approval (the largest approval-to-live lag), even across a crash.
 *
 *   npm run bench:chaos -- [--lifecycles N] [--seed S] [--faults RATE] [--only chaos|calm]
 *
 * The emulators run in a process of their own (test/chaos/stackProcess.ts). Logs go to
 * CHAOS_LOG_DIR (chaos/ and calm/ under it) when set. See bench/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPIRY_GRACE_MS, invariants, lags, percentile, runChaos, type ChaosOptions } from '../test/chaos/scenario';

type Run = 'chaos' | 'calm';

function parseOptions(argv: string[]): ChaosOptions & { runs: Run[] } {
  const options: ChaosOptions & { runs: Run[] } = { seed: Math.floor(Math.random() * 2 ** 31), lifecycles: 120, concurrency: 16, kills: true, faultRate: 0.2, runs: ['chaos', 'calm'] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--only') {
      const run = argv[++i];
      if (run !== 'chaos' && run !== 'calm') throw new Error('--only needs chaos or calm');
      options.runs = [run];
    } else if (flag === '--lifecycles' || flag === '--seed' || flag === '--faults') {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number`);
      if (flag === '--lifecycles') options.lifecycles = value;
      else if (flag === '--seed') options.seed = value;
      else options.faultRate = value;
    } else throw new Error(`Unknown argument ${flag} (known: --lifecycles N, --seed S, --faults RATE, --only chaos|calm)`);
  }
  return options;
}

const ms = (value: number): string => `${String(Math.round(value)).padStart(6)} ms`;
const row = (name: string, values: readonly number[]): string =>
  `  ${name.padEnd(22)} n=${String(values.length).padStart(4)}  p50 ${ms(percentile(values, 50))}  p99 ${ms(percentile(values, 99))}  max ${ms(values[values.length - 1] ?? NaN)}`;
const goal = (name: string, figure: number, limit: number): string => `  ${figure <= limit ? 'PASS' : 'FAIL'}  ${name.padEnd(44)} ${ms(figure)} (goal <= ${limit} ms)`;

/** One run, its lags and goals printed; true when every goal and invariant held. */
async function measure(label: 'chaos' | 'calm', options: ChaosOptions, revocationP99Goal: number): Promise<boolean> {
  const workDir = mkdtempSync(join(tmpdir(), `hsm-governor-bench-${label}-`));
  const logDir = process.env.CHAOS_LOG_DIR ? join(process.env.CHAOS_LOG_DIR, label) : undefined;
  if (logDir) mkdirSync(logDir, { recursive: true });
  try {
    console.log(`\n${label}: seed ${options.seed}, ${options.lifecycles} lifecycles, ${options.kills ? 'kills' : 'no kills'}, HSM faults ${Math.round(options.faultRate * 100)}%, load ${loadavg()[0].toFixed(1)}`);
    const started = Date.now();
    const result = await runChaos({ ...options, log: (line) => console.log(`  ${line}`), ...(logDir ? { logDir } : {}) }, workDir);
    const measured = lags(result);
    const revocation = [...measured.expiry, ...measured.revoke].sort((a, b) => a - b);
    const found = invariants(result);
    console.log(`${label}: ${result.kills} kills, ${Math.round((Date.now() - started) / 1000)} s, load ${loadavg()[0].toFixed(1)}; assignments polled every ${result.lateSightings.poll} ms (largest gap ${result.lateSightings.largestGap} ms)`);
    console.log(row('expiry -> gone', measured.expiry));
    console.log(row('revoke 200 -> gone', measured.revoke));
    console.log(row('revocation (both)', revocation));
    console.log(row('approval -> live', measured.approvalToLive));
    const goals = [
      goal(`revocation lag p99 (${label})`, percentile(revocation, 99), revocationP99Goal),
      goal('largest lag past expiry', measured.expiry[measured.expiry.length - 1] ?? 0, EXPIRY_GRACE_MS),
      goal('largest approval -> live', measured.approvalToLive[measured.approvalToLive.length - 1] ?? 0, 5_000),
    ];
    for (const line of goals) console.log(line);
    const counts = Object.entries(found).map(([name, items]) => `${name} ${(items as string[]).length}`).join(', ');
    console.log(`  Invariants: ${counts}; audit chain ${result.audit.ok ? 'verified' : `BROKEN (${result.audit.detail})`}; 5xx answers ${result.serverErrors.length}`);
    for (const [name, items] of Object.entries(found)) for (const item of (items as string[]).slice(0, 5)) console.log(`    ${name}: ${item}`);
    const held = !Object.values(found).some((items) => (items as string[]).length > 0) && result.audit.ok;
    return held && goals.every((line) => line.startsWith('  PASS'));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { runs, ...options } = parseOptions(process.argv.slice(2));
  const results: string[] = [];
  let passed = true;
  for (const run of runs) {
    const held = run === 'chaos' ? await measure('chaos', options, 5_000) : await measure('calm', { ...options, kills: false, faultRate: 0 }, 2_000);
    results.push(`${run} ${held ? 'PASS' : 'FAIL'}`);
    passed &&= held;
  }
  console.log(`\n${results.join(', ')}`);
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
