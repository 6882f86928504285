/**
 * Reconciliation at the HSM's service limits: calls made against the minimum, and wall time
 * against what the throttle allows.
 *
 *   npx ts-node --transpile-only bench/reconcile-scale.ts [--keys 5000] [--rps 500] [--budget-ms 0]
 *
 * Seeds the Managed HSM emulator with N keys, 50 assignments at `/` and 10 on every key (the
 * service limits), sets the emulator's throttle to R requests per second (429 `Throttled` above
 * it, no Retry-After, as the HSM answers), and runs one reconciliation plan through the real
 * clients, Table Storage (Azurite, in memory) and the service's pacing. The emulators run in a
 * process of their own (`emulators.ts`), as the HSM and Table Storage are never in the service's
 * process. `--budget-ms` > 0 makes every execution stop at a checkpoint after that long, as a run
 * spread over several function executions would. See bench/README.md.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { DevPersonaCredential } from '../dev/idp/credential';
import { PERSONAS } from '../dev/personas';
import { DEFAULT_POLICY_FILE } from '../dev/stack';
import { HsmInventory } from '../shared/adapters/hsm-rbac/inventory';
import { loadPolicyFile } from '../shared/adapters/policyFile';
import { TableLedger } from '../shared/adapters/storage/ledger';
import { TableReconcileStore } from '../shared/adapters/storage/reconcileStore';
import { ReconciliationService } from '../shared/services/reconciliation';
import { startEmulatorProcess } from './emulators';

const KEY_LEVEL_ROLES = ['Managed HSM Crypto User', 'Managed HSM Crypto Auditor', 'Managed HSM Crypto Service Encryption User'];
const GOVERNOR_ROLE = 'b5c1d7e2-3f4a-4b6c-8d9e-0a1b2c3d4e5f';
/** What the emulator and the HSM list per page: 25 keys; assignments in pages of 25 here too. */
const PAGE_SIZE = 25;

function option(argv: string[], name: string, fallback: number): number {
  const index = argv.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`${name} needs a number`);
    process.exit(2);
  }
  return value;
}

function seedFor(keys: number): unknown {
  const keyNames = Array.from({ length: keys }, (_, i) => `key-${String(i).padStart(5, '0')}`);
  const atRoot = [
    { name: randomUUID(), scope: '/', role: GOVERNOR_ROLE, principalId: PERSONAS['hsm-governor'].oid },
    { name: randomUUID(), scope: '/', role: 'Managed HSM Administrator', principalId: '76891f9e-0de4-4e47-a3fd-e29f364921cd' },
    ...Array.from({ length: 48 }, () => ({ name: randomUUID(), scope: '/', role: 'Managed HSM Crypto Auditor', principalId: randomUUID() })),
  ];
  const perKey = keyNames.flatMap((key) => Array.from({ length: 10 }, (_, i) => ({ name: randomUUID(), scope: `/keys/${key}`, role: KEY_LEVEL_ROLES[i % KEY_LEVEL_ROLES.length], principalId: randomUUID() })));
  return {
    roleDefinitions: [{
      name: GOVERNOR_ROLE,
      roleName: 'HSM Access Governor',
      dataActions: ['roleAssignments/read/action', 'roleAssignments/write/action', 'roleAssignments/delete/action', 'roleDefinitions/read/action', 'keys/read/action'].map((a) => `Microsoft.KeyVault/managedHsm/${a}`),
    }],
    roleAssignments: [...atRoot, ...perKey],
    keys: keyNames.map((name) => ({ name })),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const keys = option(argv, '--keys', 5000);
  const rps = option(argv, '--rps', 500);
  const budgetMs = option(argv, '--budget-ms', 0);
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-bench-'));
  const seedFile = join(dir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify(seedFor(keys)));

  const emulators = await startEmulatorProcess({ seedFile, pageSize: PAGE_SIZE, requestsPerSecond: rps });
  try {
    const table = (name: string): TableClient => TableClient.fromConnectionString(emulators.storageConnectionString, name, { allowInsecureConnection: true });
    const inventory = new HsmInventory({ url: emulators.hsmUrl, credential: new DevPersonaCredential(emulators.idpUrl, 'hsm-governor'), caPem: emulators.hsmCaPem, requestsPerSecond: rps });
    const service = new ReconciliationService({
      policy: loadPolicyFile(DEFAULT_POLICY_FILE),
      store: new TableReconcileStore(table('reconcile')),
      ledger: new TableLedger(table('ledger')),
      inventory: () => inventory,
      continuation: { continueLater: async () => undefined },
      clock: { now: () => new Date() },
      log: { info: () => undefined, warn: (m) => console.error(m), error: (m) => console.error(m) },
      newRunId: randomUUID,
    });
    const started = await service.start('plan', 'bench');
    if (!started.ok) throw new Error('could not start a run');
    const wall = Date.now();
    let run = started.run;
    while (run.status === 'running') {
      const stepped = await service.step(run.id, budgetMs > 0 ? budgetMs : 24 * 3600_000);
      if (!stepped) throw new Error('the run was taken by another execution');
      run = stepped;
    }
    const wallMs = Date.now() - wall;

    // The fewest calls a full inventory can make: every list page once, plus each client's first 401 challenge.
    const pages = (items: number): number => Math.max(1, Math.ceil(items / PAGE_SIZE));
    const definitions = pages(11);
    const minimum = definitions + pages(50) + pages(keys) + keys * pages(10) + 2;
    const boundMs = (minimum / rps) * 1000;
    const assignments = 50 + 10 * keys;
    const lines = [
      `keys                     ${keys}`,
      `role assignments         ${assignments} (50 at /, 10 per key)`,
      `throttle                 ${rps} requests/s (429 Throttled without Retry-After above it)`,
      `executions               ${run.executions}${budgetMs > 0 ? ` (budget ${budgetMs} ms each)` : ''}`,
      `drift items              ${run.itemCount} (keys inventoried: ${run.keyCount}, scopes listed: ${run.scopesDone})`,
      `HSM calls made           ${run.hsmCalls} (${run.hsmThrottled} throttled)`,
      `minimum possible         ${minimum}`,
      `wall time                ${(wallMs / 1000).toFixed(2)} s`,
      `throttle bound           ${(boundMs / 1000).toFixed(2)} s (minimum calls / rate)`,
      `wall / bound             ${(wallMs / boundMs).toFixed(3)}`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await emulators.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
