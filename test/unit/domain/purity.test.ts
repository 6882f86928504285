import { readdirSync, readFileSync, statSync } from 'fs';
import { join, relative } from 'path';
import { REPO_ROOT } from './fixtures';
import * as domain from '../../../shared/domain';

const DOMAIN = join(REPO_ROOT, 'shared', 'domain');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('shared/domain stays pure', () => {
  const sources = files(DOMAIN).map((path) => ({ path: relative(REPO_ROOT, path), text: readFileSync(path, 'utf8') }));

  it.each(sources.map((s) => [s.path, s.text]))('%s has no I/O, Azure SDK, dev/ imports or clock reads', (_path, text) => {
    const imports = [...text.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
    for (const spec of imports) {
      expect(spec).not.toMatch(/^@azure|^@azure-rest|^(node:)?(fs|http|https|net|child_process)(\/|$)|\/dev\//);
      expect(['yaml', 'ajv', 'ajv/dist/2020', 'ajv-formats', 'uuid', 'node:crypto'].includes(spec) || spec.startsWith('.')).toBe(true);
    }
    expect(text).not.toMatch(/Date\.now\(|new Date\(\)|Math\.random\(|process\.env|require\(/);
  });

  it('index re-exports the API', () => {
    for (const name of ['parseIsoDuration', 'formatIsoDuration', 'normalizeScope', 'scopeMatchesPattern', 'BUILT_IN_ROLES', 'resolveRole', 'roleDefinitionIdFor',
      'parsePolicy', 'PolicyError', 'POLICY_SCHEMA', 'evaluateRequest', 'evaluateDecision', 'approvalsNeeded', 'isApproved', 'applyEvent', 'createRequest',
      'assignmentNameFor', 'leaseCovers', 'assignmentStillJustified', 'hashAuditRecord', 'GENESIS_HASH', 'verifyAuditChain', 'REQUEST_EVENT_TYPES']) {
      expect(domain).toHaveProperty(name);
    }
  });
});
