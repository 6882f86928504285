/**
 * Revocation and grant lags under chaos: the chaos run of test/chaos (app instances killed with
 * SIGKILL, two at once for a stretch, HSM faults), timed.
 *
 *   npx ts-node --transpile-only bench/chaos.ts [--lifecycles N] [--seed S] [--no-kills] [--faults RATE]
 *
 * Prints the lag from expiry to the assignment gone, from a revoke's 200 to the assignment gone,
 * and from approval to the assignment in place (p50, p99, max), with the invariants' counts.
 * See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invariants, lags, percentile, runChaos, type ChaosOptions } from '../test/chaos/scenario';

function parseOptions(argv: string[]): ChaosOptions {
  const options: ChaosOptions = { seed: Math.floor(Math.random() * 2 ** 31), lifecycles: 220, concurrency: 16, kills: true, faultRate: 0.2 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--no-kills') options.kills = false;
    else if (flag === '--lifecycles' || flag === '--seed' || flag === '--faults') {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number`);
      if (flag === '--lifecycles') options.lifecycles = value;
      else if (flag === '--seed') options.seed = value;
      else options.faultRate = value;
    } else throw new Error(`Unknown argument ${flag} (known: --lifecycles N, --seed S, --no-kills, --faults RATE)`);
  }
  return options;
}

const row = (name: string, values: readonly number[]): string =>
  `  ${name.padEnd(22)} n=${String(values.length).padStart(4)}  p50 ${String(Math.round(percentile(values, 50))).padStart(6)} ms  p99 ${String(Math.round(percentile(values, 99))).padStart(6)} ms  max ${String(Math.round(values[values.length - 1] ?? NaN)).padStart(6)} ms`;

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), 'hsm-governor-bench-chaos-'));
  try {
    console.log(`seed ${options.seed}, ${options.lifecycles} lifecycles, ${options.kills ? 'kills' : 'no kills'}, HSM faults ${Math.round(options.faultRate * 100)}%`);
    const started = Date.now();
    const result = await runChaos({ ...options, log: (line) => console.log(`  ${line}`) }, workDir);
    const measured = lags(result);
    const found = invariants(result);
    console.log('');
    console.log(`Lags (assignment sightings polled every ${result.lateSightings.poll} ms, largest gap ${result.lateSightings.largestGap} ms), ${result.kills} kills, ${Math.round((Date.now() - started) / 1000)} s:`);
    console.log(row('expiry -> gone', measured.expiry));
    console.log(row('revoke 200 -> gone', measured.revoke));
    console.log(row('approval -> live', measured.approvalToLive));
    console.log('');
    const counts = Object.entries(found).map(([name, items]) => `${name} ${(items as string[]).length}`).join(', ');
    console.log(`Invariants: ${counts}; audit chain ${result.audit.ok ? 'verified' : `BROKEN (${result.audit.detail})`}; 5xx answers ${result.serverErrors.length}`);
    for (const [name, items] of Object.entries(found)) for (const item of (items as string[]).slice(0, 5)) console.log(`  ${name}: ${item}`);
    return Object.values(found).some((items) => (items as string[]).length > 0) || !result.audit.ok ? 1 : 0;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
