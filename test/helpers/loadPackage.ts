/**
 * Loads a built package (npm run package) the way the Functions host does, in a process of its own, and
 * prints what it registered and where its first-use modules come from, as one JSON line:
 *   ts-node --transpile-only test/helpers/loadPackage.ts PACKAGE_DIR
 * The package lives outside the repository, so it can only use what it ships.
 */
import { join } from 'node:path';
import { silentLogger, startFunctionsHost } from '../../dev/host';
import { LAZY_PACKAGES, PACKAGED_POLICY } from '../../scripts/package';

/** Settings as Azure gives them (identity-based storage, the HSM); the timer's schedule is one too. Nothing is called. */
export const LOAD_SETTINGS = {
  RECONCILE_SCHEDULE: '0 0 2 * * *',
  AzureWebJobsStorage__accountName: 'packagecheck',
  AzureWebJobsStorage__credential: 'managedidentity',
  HSM_URL: 'https://package-check.managedhsm.azure.net',
  ARM_SUBSCRIPTION_ID: '00000000-0000-4000-8000-000000000001',
};

async function main(packageDir: string): Promise<void> {
  const host = await startFunctionsHost({
    entry: join(packageDir, 'index.js'),
    hostJsonPath: join(packageDir, 'host.json'),
    port: 0,
    timers: false,
    queues: false,
    logger: silentLogger,
    env: { ...LOAD_SETTINGS, POLICY_FILE: join(packageDir, PACKAGED_POLICY) },
  });
  try {
    const registrations = host.registrations.map((r) => ({ name: r.name, kind: r.kind }));
    const loadedAtStart = Object.keys(require.cache).filter((path) => path.startsWith(join(packageDir, 'node_modules')));
    // The modules loaded on first use resolve, and load, from the package's own node_modules.
    const lazy = Object.fromEntries(LAZY_PACKAGES.map((name) => {
      const path = require.resolve(name, { paths: [packageDir] });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(path);
      return [name, path];
    }));
    process.stdout.write(`${JSON.stringify({ registrations, loadedAtStart, lazy })}\n`);
  } finally {
    await host.close();
  }
}

if (require.main === module) {
  main(process.argv[2] ?? '').catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
