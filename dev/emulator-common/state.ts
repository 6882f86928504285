import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Replaces the file in one rename, so a crash leaves the old state or the new one, never half of one. */
export function writeJsonAtomically(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(data), { mode: 0o600 });
  renameSync(temporary, file);
}

/** The state kept in `file`, or undefined when there is none yet. */
export function readJsonState<T>(file: string | undefined): T | undefined {
  return file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

/** A seed given as a file's path or as its content; none is an empty seed. */
export function loadSeed<T extends object>(seed: string | T | undefined): T | Record<string, never> {
  if (seed === undefined) return {};
  return typeof seed === 'string' ? (JSON.parse(readFileSync(seed, 'utf8')) as T) : seed;
}
