/**
 * Revocation lag: the time from a grant's expiresAt until its role assignment is gone from the HSM.
 *
 *   npx ts-node --transpile-only bench/revocation-lag.ts [--grants N] [--batch B] [--poll-ms P]
 *
 * Starts the whole local stack in-process (identity provider, Managed HSM emulator, Azurite and
 * the Functions host with timers on) in a temporary directory, creates N one-minute grants of
 * Crypto User (sam requests for himself, one key each, sara approves), then polls the emulator's
 * role assignments every P ms and records when each grant's assignment disappears.
 * See bench/README.md for how to read the figures.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostLogEntry } from '../dev/host';
import { PERSONAS } from '../dev/personas';
import { API_AUDIENCE, SEEDS, startStack, type Stack } from '../dev/stack';

const REQUESTER = 'sam';
const APPROVER = 'sara';
const DURATION = 'PT1M';
/** Give up on a grant this long after its expiry: the minute sweep is the backstop, so 75 s covers it. */
const GIVE_UP_AFTER_MS = 75_000;

interface Options {
  grants: number;
  batch: number;
  pollMs: number;
}

interface Grant {
  key: string;
  scope: string;
  requestId?: string;
  grantedAt?: number;
  expiresAt?: number;
  /** Last poll that still saw the assignment. */
  lastSeenAt?: number;
  /** First poll that no longer saw it. */
  goneAt?: number;
  error?: string;
}

function usage(message?: string): never {
  if (message) console.error(message);
  console.error('usage: ts-node --transpile-only bench/revocation-lag.ts [--grants N (default 100)] [--batch B (default 10)] [--poll-ms P (default 50)]');
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const options: Options = { grants: 100, batch: 10, pollMs: 50 };
  const names: Record<string, keyof Options> = { '--grants': 'grants', '--batch': 'batch', '--poll-ms': 'pollMs' };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split('=', 2);
    if (flag === '--help' || flag === '-h') usage();
    const name = names[flag];
    if (!name) usage(`Unknown argument ${argv[i]}`);
    const raw = inline ?? argv[(i += 1)];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) usage(`${flag} needs a positive integer, got ${raw}`);
    options[name] = value;
  }
  if (options.grants > 999) usage('--grants is at most 999 (key names bench-key-001..999)');
  return options;
}

/** Contoso's role definitions and assignments, Contoso's keys plus one bench key per grant (the emulator allows 10 assignments per key). */
function writeSeed(dir: string, grants: number): string {
  const contoso = JSON.parse(readFileSync(SEEDS.contoso, 'utf8')) as { roleDefinitions: unknown[]; roleAssignments: unknown[]; keys: Array<{ name: string }> };
  const benchKeys = Array.from({ length: grants }, (_, i) => ({ name: keyName(i) }));
  const seed = {
    $comment: `Contoso plus ${grants} bench keys for bench/revocation-lag.ts`,
    roleDefinitions: contoso.roleDefinitions,
    roleAssignments: contoso.roleAssignments,
    keys: [...contoso.keys, ...benchKeys],
  };
  const path = join(dir, 'bench-seed.json');
  writeFileSync(path, `${JSON.stringify(seed, null, 2)}\n`);
  return path;
}

function keyName(index: number): string {
  return `bench-key-${String(index + 1).padStart(3, '0')}`;
}

async function createGrant(stack: Stack, tokens: Record<string, string>, grant: Grant): Promise<void> {
  const call = async (path: string, persona: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetch(`${stack.endpoints.api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[persona]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json().catch(() => ({}))) as Record<string, unknown> };
  };
  const submitted = await call('/api/requests', REQUESTER, { role: 'Crypto User', scope: grant.scope, duration: DURATION, justification: 'bench' });
  if (submitted.status !== 201 || typeof submitted.json.id !== 'string') {
    grant.error = `submit: HTTP ${submitted.status} ${JSON.stringify(submitted.json)}`;
    return;
  }
  grant.requestId = submitted.json.id;
  const approved = await call(`/api/requests/${grant.requestId}/decisions`, APPROVER, { decision: 'approve' });
  const { status, expiresAt, grantedAt } = approved.json;
  if (approved.status !== 200 || status !== 'Active' || typeof expiresAt !== 'string') {
    grant.error = `approve: HTTP ${approved.status} ${JSON.stringify(approved.json)}`;
    return;
  }
  grant.expiresAt = Date.parse(expiresAt);
  if (typeof grantedAt === 'string') grant.grantedAt = Date.parse(grantedAt);
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (value: number): string => `${Math.round(value)} ms`;

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'hsm-governor-bench-'));
  const sweepExpired: number[] = [];
  const logger = (entry: HostLogEntry): void => {
    if (entry.level === 'error' || entry.level === 'critical') console.error(`[host] ${entry.functionName ? `[${entry.functionName}] ` : ''}${entry.message.split('\n')[0]}`);
    const sweep = /^Sweep: (\{.*\})$/.exec(entry.message);
    if (entry.functionName === 'sweep' && sweep) sweepExpired.push((JSON.parse(sweep[1]) as { expired?: number }).expired ?? 0);
  };

  let stack: Stack | undefined;
  const shutdown = async (): Promise<void> => {
    await stack?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void shutdown().finally(() => process.exit(130));
  });

  try {
    const seed = writeSeed(dataDir, options.grants);
    const started = Date.now();
    const running = await startStack({ dataDir: join(dataDir, 'stack'), ports: 'random', seed, fresh: true, logger, timers: true });
    stack = running;
    console.log(`Stack up in ${ms(Date.now() - started)} (api ${running.endpoints.api}, hsm ${running.endpoints.hsm}).`);

    const principalId = PERSONAS[REQUESTER].oid;
    const grants: Grant[] = Array.from({ length: options.grants }, (_, i) => ({ key: keyName(i), scope: `/keys/${keyName(i)}` }));
    const byScope = new Map(grants.map((grant) => [grant.scope, grant]));

    // Poll from the start, so a grant is seen while it is held and its disappearance is caught to the poll interval.
    let polling = true;
    let polls = 0;
    let maxPollGap = 0;
    const poller = (async () => {
      let previous = Date.now();
      while (polling) {
        const now = Date.now();
        if (polls > 0) maxPollGap = Math.max(maxPollGap, now - previous);
        previous = now;
        polls += 1;
        const held = new Set<string>();
        for (const assignment of running.hsm.assignments()) {
          if (assignment.properties.principalId === principalId && byScope.has(assignment.properties.scope)) held.add(assignment.properties.scope);
        }
        for (const grant of grants) {
          if (grant.goneAt !== undefined) continue;
          if (held.has(grant.scope)) grant.lastSeenAt = now;
          else if (grant.lastSeenAt !== undefined) grant.goneAt = now;
        }
        await sleep(options.pollMs);
      }
    })();

    const tokens = {
      [REQUESTER]: await running.idp.issueToken(REQUESTER, { audience: API_AUDIENCE }),
      [APPROVER]: await running.idp.issueToken(APPROVER, { audience: API_AUDIENCE }),
    };
    const creating = Date.now();
    for (let i = 0; i < grants.length; i += options.batch) {
      await Promise.all(grants.slice(i, i + options.batch).map((grant) => createGrant(running, tokens, grant).catch((error: unknown) => {
        grant.error = error instanceof Error ? error.message : String(error);
      })));
    }
    const active = grants.filter((grant) => grant.expiresAt !== undefined);
    const failed = grants.filter((grant) => grant.error !== undefined);
    console.log(`Created ${active.length}/${grants.length} grants of ${DURATION} in ${ms(Date.now() - creating)} (batches of ${options.batch}); ${failed.length} failed.`);
    for (const grant of failed.slice(0, 5)) console.error(`  ${grant.key}: ${grant.error}`);
    if (active.length === 0) {
      polling = false;
      await poller;
      return 1;
    }

    const lastExpiry = Math.max(...active.map((grant) => grant.expiresAt as number));
    console.log(`Waiting for expiry (last at ${new Date(lastExpiry).toISOString()}) and revocation, polling the HSM every ${options.pollMs} ms...`);
    while (Date.now() < lastExpiry + GIVE_UP_AFTER_MS && active.some((grant) => grant.goneAt === undefined)) await sleep(250);
    polling = false;
    await poller;

    const neverSeen = active.filter((grant) => grant.lastSeenAt === undefined);
    const notRevoked = active.filter((grant) => grant.lastSeenAt !== undefined && grant.goneAt === undefined);
    const revoked = active.filter((grant) => grant.goneAt !== undefined);
    const early = revoked.filter((grant) => (grant.goneAt as number) < (grant.expiresAt as number));
    const lags = revoked.map((grant) => (grant.goneAt as number) - (grant.expiresAt as number)).sort((a, b) => a - b);
    const resolution = Math.max(0, ...revoked.map((grant) => (grant.goneAt as number) - (grant.lastSeenAt as number)));
    const mean = lags.reduce((sum, lag) => sum + lag, 0) / Math.max(1, lags.length);

    console.log('');
    console.log('Revocation lag (goneAt - expiresAt)');
    const rows: Array<[string, string]> = [
      ['count', String(lags.length)],
      ['min', lags.length ? ms(lags[0]) : '-'],
      ['p50', lags.length ? ms(percentile(lags, 50)) : '-'],
      ['mean', lags.length ? ms(mean) : '-'],
      ['p99', lags.length ? ms(percentile(lags, 99)) : '-'],
      ['max', lags.length ? ms(lags[lags.length - 1]) : '-'],
    ];
    for (const [name, value] of rows) console.log(`  ${name.padEnd(6)} ${value.padStart(10)}`);
    console.log('');
    console.log(`Measured: ${lags.length} grants of ${DURATION} (Crypto User, ${REQUESTER} for himself on one key each, approved by ${APPROVER}); expiresAt from the approval response;`);
    console.log(`goneAt = first in-process poll of hsm.assignments() (every ${options.pollMs} ms; ${polls} polls, largest gap ${ms(maxPollGap)}) without the assignment, so each figure is late by at most ${ms(resolution)}.`);
    console.log(`Expired by the minute sweep (backstop): ${sweepExpired.reduce((sum, n) => sum + n, 0)}; the rest by the revocation queue trigger.`);
    if (early.length) console.log(`WARNING: ${early.length} assignments disappeared before expiresAt (negative lag).`);
    if (neverSeen.length) console.log(`WARNING: ${neverSeen.length} active grants were never seen in the HSM (not counted).`);
    if (notRevoked.length) console.log(`FAILED: ${notRevoked.length} grants still held ${GIVE_UP_AFTER_MS / 1000} s after expiry: ${notRevoked.slice(0, 5).map((grant) => grant.key).join(', ')}`);
    return failed.length || neverSeen.length || notRevoked.length || early.length ? 1 : 0;
  } finally {
    await shutdown();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
