import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { silentLogger, startFunctionsHost } from '../../dev/host';
import { ABSENT_OPTIONAL_PACKAGES, buildPackage, LAZY_PACKAGES, PACKAGED_POLICY, type PackageResult } from '../../scripts/package';
import { LOAD_SETTINGS } from '../helpers/loadPackage';

const REPO_ROOT = resolve(__dirname, '..', '..');
const run = promisify(execFile);

let work: string;
let built: PackageResult;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'package-'));
  built = await buildPackage({ policyFile: join(REPO_ROOT, 'examples/contoso/policy.yaml'), outDir: join(work, 'package') });
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function sourceRegistrations(): Promise<Array<{ name: string; kind: string }>> {
  const host = await startFunctionsHost({ port: 0, timers: false, queues: false, logger: silentLogger, env: LOAD_SETTINGS });
  try {
    return host.registrations.map((r) => ({ name: r.name, kind: r.kind }));
  } finally {
    await host.close();
  }
}

it('holds the bundle, host.json, a production package.json, the policy and .funcignore, and nothing of the repository', () => {
  const manifest = JSON.parse(readFileSync(join(built.outDir, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string>; devDependencies?: unknown; scripts?: unknown };
  expect(manifest.main).toBe('index.js');
  expect(Object.keys(manifest.dependencies).sort()).toEqual([...LAZY_PACKAGES].sort());
  expect(manifest.devDependencies).toBeUndefined();
  expect(manifest.scripts).toBeUndefined();
  expect(readFileSync(join(built.outDir, 'host.json'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'host.json'), 'utf8'));
  expect(readFileSync(join(built.outDir, PACKAGED_POLICY), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'examples/contoso/policy.yaml'), 'utf8'));
  expect(readFileSync(join(built.outDir, '.funcignore'), 'utf8')).toMatch(/^test\/$/m);
  // Only the first-use packages and what they need: no dev tool, and none of the clients the bundle holds
  // (the telemetry packages bring their own copies of the Azure core libraries).
  expect(built.modules.some((m) => /jest|typescript|azurite|esbuild/.test(m))).toBe(false);
  expect(built.modules.some((m) => /@azure\/(functions|data-tables|storage-queue|keyvault-)/.test(m))).toBe(false);
  // The Bot Framework's optional native add-ons are not installed, so not shipped: its HTTP stack does without.
  expect(built.modules.some((m) => ABSENT_OPTIONAL_PACKAGES.some((name) => m.endsWith(`node_modules/${name}`)))).toBe(false);
});

it('bundles everything but the worker\'s module and the packages loaded on first use', () => {
  const bundle = readFileSync(join(built.outDir, 'index.js'), 'utf8');
  const required = new Set([...bundle.matchAll(/(?<!['`])\brequire\("([^"]+)"\)/g)].map((m) => m[1]!));
  const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
  expect([...required].filter((name) => !builtins.has(name)).sort()).toEqual(['@azure/functions-core', ...LAZY_PACKAGES].sort());
});

it('loads with only its own modules, registers every function the source registers, and leaves mail and cards for later', async () => {
  const { stdout } = await run(join(REPO_ROOT, 'node_modules/.bin/ts-node'), ['--transpile-only', join(REPO_ROOT, 'test/helpers/loadPackage.ts'), built.outDir], { cwd: built.outDir });
  const loaded = JSON.parse(stdout.trim().split('\n').pop()!) as { registrations: Array<{ name: string; kind: string }>; loadedAtStart: string[]; lazy: Record<string, string> };
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
  const expected = await sourceRegistrations();
  expect(expected.length).toBeGreaterThan(10);
  expect(loaded.registrations.sort(byName)).toEqual(expected.sort(byName));
  // Mail and Teams cards are loaded when first used, not when the app starts.
  expect(loaded.loadedAtStart).toEqual([]);
  for (const name of LAZY_PACKAGES) expect(loaded.lazy[name]?.startsWith(join(built.outDir, 'node_modules'))).toBe(true);
}, 120_000);
