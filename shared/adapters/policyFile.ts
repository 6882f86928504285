import { readFileSync } from 'node:fs';
import { parsePolicy, type Policy } from '../domain';

/** Reads and validates the policy file; throws PolicyError naming every problem with its line. */
export function loadPolicyFile(path: string): Policy {
  return parsePolicy(readFileSync(path, 'utf8'), path);
}
