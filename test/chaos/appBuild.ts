/**
 * The app's code as JavaScript for the chaos run's instances: transpiled once per run (no type
 * check, as ts-node's transpile-only does), so that an instance killed every few seconds starts in
 * a second or two instead of compiling the app again on a busy machine.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const REPO_ROOT = join(__dirname, '..', '..');
const SOURCES = ['functions', 'shared', 'dev', 'test/chaos/appProcess.ts'];

function tsFiles(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(path).flatMap((name) => tsFiles(join(path, name)));
}

/** Writes the JavaScript under `outDir` (the repository's layout, with host.json); returns the instance's entry. */
export function buildApp(outDir: string): string {
  const compilerOptions: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true, resolveJsonModule: true };
  for (const file of SOURCES.flatMap((source) => tsFiles(join(REPO_ROOT, source)))) {
    const out = join(outDir, relative(REPO_ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file }).outputText);
  }
  copyFileSync(join(REPO_ROOT, 'host.json'), join(outDir, 'host.json'));
  return join(outDir, 'test', 'chaos', 'appProcess.js');
}

/** Where the instances find the repository's packages from the build directory. */
export const NODE_MODULES = join(REPO_ROOT, 'node_modules');
