/**
 * Cold start of the deployed package: how long a fresh Node process takes to load it (module load,
 * policy check and function registration), beside the floor any such app pays, a process that only
 * loads @azure/functions, @azure/identity and @azure/data-tables, measured in the same run.
 *
 *   npm run bench:cold-start -- [--runs N]
 *
 * Builds the package (npm run package, with the example policy) into a temporary directory, then
 * alternates N fresh processes of each kind. Last line:
 *   cold start: package <MB> MB, median <ms> ms, floor <ms> ms, ratio <r>
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildPackage } from '../scripts/package';

const REPO_ROOT = resolve(__dirname, '..');
const FLOOR_MODULES = ['@azure/functions', '@azure/identity', '@azure/data-tables'];

/** A child that makes `@azure/functions-core` the local host's (as the worker provides its own), loads it, then times `modules`. */
function childScript(corePath: string, modules: string[]): string {
  return `
const Module = require('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === '@azure/functions-core' ? ${JSON.stringify(corePath)} : resolveFilename.call(this, request, ...rest);
};
require('@azure/functions-core');
const started = process.hrtime.bigint();
for (const module of ${JSON.stringify(modules)}) require(module);
process.stdout.write(String(Number(process.hrtime.bigint() - started) / 1e6));
`;
}

function timeOnce(script: string, cwd: string, env: NodeJS.ProcessEnv): number {
  return Number(execFileSync(process.execPath, ['-e', script], { cwd, env, encoding: 'utf8' }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function directoryBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const path = join(dir, entry.name);
    return sum + (entry.isDirectory() ? directoryBytes(path) : statSync(path).size);
  }, 0);
}

function runsArgument(): number {
  const index = process.argv.indexOf('--runs');
  const runs = index >= 0 ? Number(process.argv[index + 1]) : 15;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs needs a whole number of 1 or more');
  return runs;
}

async function main(): Promise<void> {
  const runs = runsArgument();
  const work = mkdtempSync(join(tmpdir(), 'cold-start-'));
  try {
    const { outDir } = await buildPackage({ policyFile: join(REPO_ROOT, 'examples/contoso/policy.yaml'), outDir: join(work, 'package') });
    const corePath = join(work, 'functions-core.js');
    await build({ entryPoints: [join(REPO_ROOT, 'dev/host/functionsCore.ts')], outfile: corePath, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
    // Settings as Azure gives them, so that the app builds its whole context as it does there (nothing is called).
    const env = { ...process.env, POLICY_FILE: join(outDir, 'policy/policy.yaml'), AzureWebJobsStorage__accountName: 'bench', AzureWebJobsStorage__credential: 'managedidentity', HSM_URL: 'https://bench.managedhsm.azure.net', ARM_SUBSCRIPTION_ID: '00000000-0000-4000-8000-000000000001', RECONCILE_SCHEDULE: '0 0 2 * * *' };
    const packageScript = childScript(corePath, [join(outDir, 'index.js')]);
    const floorScript = childScript(corePath, FLOOR_MODULES.map((name) => require.resolve(name, { paths: [REPO_ROOT] })));
    const packageMs: number[] = [];
    const floorMs: number[] = [];
    // Alternating the two kinds spreads the machine's noise over both.
    for (let run = 0; run < runs; run++) {
      packageMs.push(timeOnce(packageScript, outDir, env));
      floorMs.push(timeOnce(floorScript, REPO_ROOT, env));
    }
    const megabytes = directoryBytes(outDir) / (1024 * 1024);
    const packageMedian = median(packageMs);
    const floorMedian = median(floorMs);
    process.stdout.write(`runs: ${runs} of each; package ${packageMs.map((ms) => ms.toFixed(0)).join(' ')}; floor ${floorMs.map((ms) => ms.toFixed(0)).join(' ')}\n`);
    process.stdout.write(`cold start: package ${megabytes.toFixed(1)} MB, median ${packageMedian.toFixed(0)} ms, floor ${floorMedian.toFixed(0)} ms, ratio ${(packageMedian / floorMedian).toFixed(2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
