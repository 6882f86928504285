import { spawnSync } from 'child_process';
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

  // What the domain may import is one named layer rule (.dependency-cruiser.cjs, `npm run lint:layers`).
  it('imports no I/O, Azure SDK, dev/ or outer layer (the domain-is-pure layer rule)', () => {
    const cruise = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'), 'shared/domain', '--config', '.dependency-cruiser.cjs'], {
      cwd: REPO_ROOT, encoding: 'utf8',
    });
    expect(cruise.stdout + cruise.stderr).toContain('no dependency violations found');
    expect(cruise.status).toBe(0);
  }, 60_000);

  it.each(sources.map((s) => [s.path, s.text]))('%s reads no clock, randomness or environment', (_path, text) => {
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
