import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Builds the package that is deployed (`npm run package`, and azd's prepackage hook): one esbuild
 * bundle of functions/index.ts, host.json, a production package.json, the policy, and node_modules
 * holding only what the bundle leaves out: the packages a few paths load on first use (mail, Teams
 * cards), so that a cold start does not pay for them.
 *
 *   npm run package -- [--policy FILE] [--out DIR]
 */

const REPO_ROOT = resolve(__dirname, '..');
export const DEFAULT_PACKAGE_DIR = join(REPO_ROOT, 'dist', 'package');
/** Where the deployed app reads its policy (POLICY_FILE in infra/main.bicep). */
export const PACKAGED_POLICY = 'policy/policy.yaml';
/** Loaded when first used (see shared/adapters/notify), so kept out of the bundle and shipped as modules. */
export const LAZY_PACKAGES = [
  'nodemailer',
  'adaptivecards-templating',
  // OpenTelemetry, loaded only when telemetry is on (see shared/adapters/telemetry).
  '@azure/monitor-opentelemetry',
  '@azure/opentelemetry-instrumentation-azure-sdk',
  '@opentelemetry/api',
  '@opentelemetry/api-logs',
  '@opentelemetry/sdk-logs',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/sdk-trace-node',
  // The Bot Framework SDK, loaded with the first Teams activity or card (see shared/adapters/teams-bot).
  'botbuilder',
  'botframework-connector',
  'botframework-schema',
  // Loaded with their first call: Event Grid publishing, Azure RBAC, the HSM's audit log.
  '@azure/eventgrid',
  '@azure/arm-authorization',
  '@azure/storage-blob',
] as const;
/**
 * Optional speed-ups that the Bot Framework's HTTP stack (ws, node-fetch) tries to require inside a
 * try/catch and does without: not installed, not shipped, left as requires that fail softly.
 */
export const ABSENT_OPTIONAL_PACKAGES = ['bufferutil', 'utf-8-validate', 'encoding'] as const;
/** Provided by the Functions worker at run time. */
const WORKER_PROVIDED = ['@azure/functions-core'];

interface PackageJson {
  name: string;
  version: string;
  description?: string;
  license?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

export interface PackageOptions {
  /** The policy to ship; default policy/policy.yaml in the repository. */
  policyFile?: string;
  outDir?: string;
}

export interface PackageResult {
  outDir: string;
  /** Every package copied into node_modules. */
  modules: string[];
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** The installed copy of `name` as Node would find it from `fromDir`. */
function installedPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Copies `names` and everything they need at run time from the repository's install, keeping its layout. */
function copyRuntimeClosure(names: readonly string[], outDir: string): string[] {
  const copied = new Set<string>();
  const pending = names.map((name) => ({ name, from: REPO_ROOT, optional: false }));
  while (pending.length > 0) {
    const { name, from, optional } = pending.pop()!;
    const source = installedPackageDir(name, from);
    if (!source) {
      if (optional) continue;
      throw new Error(`${name} is needed at run time but not installed: run npm ci`);
    }
    if (copied.has(source)) continue;
    copied.add(source);
    const target = join(outDir, source.slice(REPO_ROOT.length + 1));
    cpSync(source, target, { recursive: true, dereference: true, filter: (path) => !/[/\\]node_modules[/\\]\.bin$/.test(path) });
    const manifest = readJson<PackageJson>(join(source, 'package.json'));
    const optionalPeers = new Set(Object.entries(manifest.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional).map(([peer]) => peer));
    for (const dependency of Object.keys(manifest.dependencies ?? {})) pending.push({ name: dependency, from: source, optional: false });
    for (const dependency of Object.keys(manifest.optionalDependencies ?? {})) pending.push({ name: dependency, from: source, optional: true });
    for (const peer of Object.keys(manifest.peerDependencies ?? {})) pending.push({ name: peer, from: source, optional: optionalPeers.has(peer) });
  }
  return [...copied].map((dir) => dir.slice(REPO_ROOT.length + 1)).sort();
}

function policySource(policyFile: string | undefined): string {
  const path = resolve(policyFile ?? join(REPO_ROOT, PACKAGED_POLICY));
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new Error(`No policy to package at ${path}: write your policy there (start from examples/contoso/policy.yaml, check it with npm run policy:check) or pass --policy FILE`);
  }
  return path;
}

export async function buildPackage(options: PackageOptions = {}): Promise<PackageResult> {
  const outDir = resolve(options.outDir ?? DEFAULT_PACKAGE_DIR);
  const policy = policySource(options.policyFile);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, dirname(PACKAGED_POLICY)), { recursive: true });

  await build({
    entryPoints: [join(REPO_ROOT, 'functions', 'index.ts')],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: [...WORKER_PROVIDED, ...LAZY_PACKAGES, ...ABSENT_OPTIONAL_PACKAGES],
    // Some dependencies ship ESM that reads import.meta.url; in the CommonJS bundle it is the bundle's own URL.
    banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__bundleUrl' },
    legalComments: 'linked',
    logLevel: 'warning',
  });

  const root = readJson<PackageJson>(join(REPO_ROOT, 'package.json'));
  const dependencies = Object.fromEntries(LAZY_PACKAGES.map((name) => [name, root.dependencies?.[name] ?? '']));
  const manifest = {
    name: root.name,
    version: root.version,
    description: root.description,
    license: root.license,
    private: true,
    main: 'index.js',
    engines: { node: '>=22' },
    dependencies,
  };
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(join(REPO_ROOT, 'host.json'), join(outDir, 'host.json'));
  cpSync(join(REPO_ROOT, '.funcignore'), join(outDir, '.funcignore'));
  cpSync(policy, join(outDir, PACKAGED_POLICY));
  const modules = copyRuntimeClosure(LAZY_PACKAGES, outDir);
  return { outDir, modules };
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (require.main === module) {
  const policyFile = argument('--policy');
  const outDir = argument('--out');
  buildPackage({ ...(policyFile ? { policyFile } : {}), ...(outDir ? { outDir } : {}) }).then(
    (result) => process.stdout.write(`Package in ${result.outDir} (${result.modules.length} packages in node_modules, policy ${PACKAGED_POLICY})\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
