/**
 * npm run policy:check -- FILE [FILE...]
 * Validates policy files as the service does at start-up; prints every problem with its line.
 */
import { PolicyError } from '../shared/domain';
import { loadPolicyFile } from '../shared/adapters/policyFile';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('Usage: npm run policy:check -- FILE [FILE...]');
  process.exit(2);
}
let failed = false;
for (const file of files) {
  try {
    const policy = loadPolicyFile(file);
    console.log(`${file}: valid (${policy.eligibility.length} eligibility rules, ${policy.standing.length} standing, ${policy.protected.length} protected, ${policy.forbidden.length} forbidden)`);
  } catch (error) {
    failed = true;
    console.error(error instanceof PolicyError ? error.message : `${file}: ${(error as Error).message}`);
  }
}
process.exit(failed ? 1 : 0);
