/**
 * The chaos run: app instances (each a process of its own) killed with SIGKILL at random moments,
 * two at once for the first part, while short access request lifecycles run through the HTTP API
 * and the HSM emulator answers a share of calls with faults. Every random choice comes from one
 * seeded generator, so a failing run can be replayed with its seed. Used by test/chaos/chaos.test.ts
 * (which asserts the invariants) and bench/chaos.ts (which prints the lags).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_AUDIENCE, SEEDS } from '../../dev/stack';
import { freePort } from '../../dev/notifications';
import { verifyPartitionedAudit, type AccessRequest } from '../../shared/domain';
import { startChaosStack, type ChaosStack } from './stackProcess';
import { ISSUER } from '../../dev/idp/server';
import { buildApp, NODE_MODULES } from './appBuild';
import type { AppProcessSettings } from './appProcess';
import { seededRandom } from '../helpers/random';

export interface ChaosOptions {
  seed: number;
  lifecycles: number;
  /** Lifecycles running at once. */
  concurrency: number;
  /** Kill app instances (else they only run). */
  kills: boolean;
  /** Share of HSM calls that fail (429 without Retry-After, 503, dropped connection). */
  faultRate: number;
  /** Where progress goes (default nowhere). */
  log?: (line: string) => void;
  /** Where the emulators, the app instances and the run write their logs (default: under the work directory, removed with it). */
  logDir?: string;
}

export type LifecycleKind = 'expire' | 'extend' | 'revoke-after-approval' | 'revoke-later' | 'cancel' | 'deny';

export interface Lifecycle {
  readonly n: number;
  readonly kind: LifecycleKind;
  readonly scope: string;
  readonly requester: Persona;
  readonly approver: Persona;
  requestId?: string;
  /** When a revoke answered 200 (ms since the epoch). */
  revokedAt?: number;
  problems: string[];
}

export interface Sighting {
  firstSeen?: number;
  lastSeen?: number;
}

export interface ChaosResult {
  readonly seed: number;
  readonly kills: number;
  readonly lifecycles: readonly Lifecycle[];
  /** The requests as stored at the end, by id. */
  readonly requests: ReadonlyMap<string, AccessRequest>;
  /** When each scope's assignment was seen on the HSM. */
  readonly sightings: ReadonlyMap<string, Sighting>;
  /** Chaos keys still holding an assignment at the end. */
  readonly leftOnHsm: readonly string[];
  readonly audit: { ok: boolean; detail?: string };
  /** 5xx answers of the API. */
  readonly serverErrors: readonly string[];
  readonly lateSightings: { readonly poll: number; readonly largestGap: number };
}

type Persona = 'sam' | 'sara' | 'sean';
const SECURITY_TEAM: readonly Persona[] = ['sam', 'sara', 'sean'];
const KINDS: ReadonlyArray<[LifecycleKind, number]> = [
  ['expire', 0.3], ['extend', 0.15], ['revoke-after-approval', 0.25], ['revoke-later', 0.1], ['cancel', 0.12], ['deny', 0.08],
];
const POLL_MS = 100;
const CALL_PATIENCE_MS = 300_000;
/** Why the run itself dropped a lifecycle (no instance answered in time): not the service's doing. */
const DROPPED = 'dropped by the run: ';
/** Past the last expiry, how long the run waits for everything to settle (the goal is 60 s). */
const SETTLE_MS = 75_000;


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The Contoso policy with grants of seconds and an enforcing reconciliation. */
function chaosPolicy(dir: string): string {
  const contoso = readFileSync(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'), 'utf8');
  const text = contoso
    .replace(/\n {2}minDuration: PT1M\n/, '\n  minDuration: PT5S\n')
    .replace(/\n {2}mode: report\n {2}maxRemovalsPerRun: 10\n/, '\n  mode: enforce\n  maxRemovalsPerRun: 500\n');
  if (!text.includes('minDuration: PT5S') || !text.includes('mode: enforce')) throw new Error('The Contoso policy changed: the chaos policy could not be derived from it');
  const path = join(dir, 'chaos-policy.yaml');
  writeFileSync(path, text);
  return path;
}

function chaosSeed(dir: string, keys: number): string {
  const contoso = JSON.parse(readFileSync(SEEDS.contoso, 'utf8')) as { keys: Array<{ name: string }> };
  const path = join(dir, 'chaos-seed.json');
  writeFileSync(path, JSON.stringify({ ...contoso, keys: [...contoso.keys, ...Array.from({ length: keys }, (_, i) => ({ name: keyName(i) }))] }));
  return path;
}

const keyName = (n: number): string => `chaos-key-${String(n + 1).padStart(3, '0')}`;

/** One app instance on a fixed port, started again after each kill. */
class Instance {
  private child: ChildProcess | undefined;
  up = false;

  constructor(readonly url: string, private readonly entry: string, private readonly settings: AppProcessSettings, private readonly logFile: string) {}

  async start(): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, CHAOS_APP: JSON.stringify(this.settings), NODE_PATH: NODE_MODULES };
    delete env.JEST_WORKER_ID;
    const child = spawn(process.execPath, [this.entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const log = createWriteStream(this.logFile, { flags: 'a' });
    log.write(`--- started ${new Date().toISOString()} pid ${child.pid}\n`);
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    let errors = '';
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (/^ready$/m.test(chunk.toString())) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`an app instance exited (${code ?? signal}) before it was ready: ${errors}`)));
    });
    this.up = true;
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.up = false;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** Calls the API on a live instance; a call that gets no answer (its instance died) is made again, elsewhere. */
class Client {
  readonly serverErrors: string[] = [];
  private readonly tokens = new Map<string, string>();

  constructor(private readonly stack: ChaosStack, private readonly instances: readonly Instance[], private readonly random: () => number) {}

  async call(persona: Persona, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    let token = this.tokens.get(persona);
    if (!token) {
      token = await this.stack.issueToken(persona, API_AUDIENCE);
      this.tokens.set(persona, token);
    }
    // A busy machine may take long to start an instance again: wait for one up to CALL_PATIENCE_MS.
    for (const giveUpAt = Date.now() + CALL_PATIENCE_MS; Date.now() < giveUpAt; ) {
      const live = this.instances.filter((instance) => instance.up);
      if (live.length === 0) {
        await sleep(200);
        continue;
      }
      const instance = live[Math.floor(this.random() * live.length)]!;
      try {
        const response = await fetch(`${instance.url}/api${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body ?? {}),
          signal: AbortSignal.timeout(30_000),
        });
        const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
        if (response.status >= 500) this.serverErrors.push(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
        return { status: response.status, json };
      } catch {
        await sleep(100 + this.random() * 200);
      }
    }
    throw new Error(`${method} ${path}: no instance answered`);
  }
}

function pickKind(random: () => number): LifecycleKind {
  let roll = random();
  for (const [kind, share] of KINDS) {
    if (roll < share) return kind;
    roll -= share;
  }
  return 'expire';
}

/** Revoke until it is not refused for being early (the approval may not have landed yet). */
async function revoke(client: Client, lifecycle: Lifecycle, id: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const answer = await client.call(lifecycle.requester, 'POST', `/requests/${id}/revoke`, { reason: 'chaos' });
    if (answer.status === 200) {
      lifecycle.revokedAt = Date.now();
      if (answer.json.status !== 'Revoked') lifecycle.problems.push(`revoke answered 200 with ${String(answer.json.status)}`);
      return;
    }
    if (answer.status !== 409 || !/Pending/.test(String(answer.json.detail))) return;
    await sleep(20);
  }
}

async function runLifecycle(client: Client, lifecycle: Lifecycle, random: () => number): Promise<void> {
  const duration = `PT${5 + Math.floor(random() * 4)}S`;
  const submitted = await client.call(lifecycle.requester, 'POST', '/requests', { role: 'Crypto User', scope: lifecycle.scope, duration, justification: `chaos ${lifecycle.n}` }, { 'idempotency-key': `chaos-${lifecycle.n}` });
  if (submitted.status !== 201 && submitted.status !== 200) {
    lifecycle.problems.push(`submit: ${submitted.status} ${JSON.stringify(submitted.json)}`);
    return;
  }
  const id = String(submitted.json.id);
  lifecycle.requestId = id;
  const decide = (decision: 'approve' | 'deny'): Promise<Answer> => client.call(lifecycle.approver, 'POST', `/requests/${id}/decisions`, { decision });
  switch (lifecycle.kind) {
    case 'cancel':
      await client.call(lifecycle.requester, 'POST', `/requests/${id}/cancel`);
      return;
    case 'deny':
      await decide('deny');
      return;
    case 'revoke-after-approval': {
      const approving = decide('approve');
      await sleep(random() * 40);
      await Promise.all([approving, revoke(client, lifecycle, id)]);
      return;
    }
    case 'revoke-later':
      await decide('approve');
      await sleep(500 + random() * 2000);
      await revoke(client, lifecycle, id);
      return;
    case 'extend':
      await decide('approve');
      await sleep(random() * 2000);
      await client.call(lifecycle.requester, 'POST', `/requests/${id}/extend`, { duration: 'PT5S', justification: 'a little longer' });
      await decide('approve');
      return;
    case 'expire':
      await decide('approve');
  }
}

/** Watches the HSM emulator's assignments on the chaos keys every POLL_MS. */
function watch(stack: ChaosStack, scopes: ReadonlySet<string>): { sightings: Map<string, Sighting>; stop: () => Promise<{ poll: number; largestGap: number }> } {
  const sightings = new Map<string, Sighting>();
  let running = true;
  let largestGap = 0;
  const loop = (async () => {
    let previous = Date.now();
    while (running) {
      const now = Date.now();
      largestGap = Math.max(largestGap, now - previous);
      previous = now;
      for (const assignment of await stack.assignments()) {
        const scope = assignment.properties.scope;
        if (!scopes.has(scope)) continue;
        const seen = sightings.get(scope) ?? {};
        seen.firstSeen ??= now;
        seen.lastSeen = now;
        sightings.set(scope, seen);
      }
      await sleep(POLL_MS);
    }
  })();
  return { sightings, stop: async () => ((running = false), await loop, { poll: POLL_MS, largestGap }) };
}

/** Kills a random live instance every few seconds and starts it again; one instance only after `twoUntil`. */
async function killLoop(instances: readonly Instance[], random: () => number, until: () => boolean, twoUntil: () => boolean, log: (line: string) => void): Promise<number> {
  let kills = 0;
  while (!until()) {
    await sleep(1500 + random() * 3000);
    if (until()) break;
    const two = twoUntil();
    if (!two && instances[1]!.up) {
      // From here on one instance: the second is killed for good.
      await instances[1]!.kill();
      kills++;
      continue;
    }
    const candidates = two ? instances : instances.slice(0, 1);
    const victim = candidates[Math.floor(random() * candidates.length)]!;
    if (!victim.up) continue;
    await victim.kill();
    kills++;
    await sleep(200 + random() * 1000);
    // An instance that dies while it starts (a starved machine) is started again, not left down.
    for (let attempt = 1; ; attempt++) {
      try {
        await victim.start();
        break;
      } catch (error) {
        log(`restart ${attempt} failed: ${(error as Error).message.slice(0, 200)}`);
        if (attempt >= 3) throw error;
      }
    }
    if (kills % 10 === 0) log(`${kills} kills`);
  }
  return kills;
}

async function waitUntilSettled(stack: ChaosStack, lifecycles: readonly Lifecycle[], deadline: number): Promise<Map<string, AccessRequest>> {
  for (;;) {
    const requests = new Map<string, AccessRequest>();
    const ledger = stack.ledger();
    for (let page = await ledger.list({ pageSize: 500 }); ; page = await ledger.list({ pageSize: 500, continuation: page.continuation })) {
      for (const item of page.items) requests.set(item.request.id, item.request);
      if (!page.continuation) break;
    }
    const open = lifecycles.filter((l) => l.requestId && !['Expired', 'Revoked', 'Cancelled', 'Denied', 'Failed'].includes(requests.get(l.requestId)?.status ?? ''));
    const scopes = new Set(lifecycles.map((l) => l.scope));
    const held = (await stack.assignments()).some((a) => scopes.has(a.properties.scope));
    if ((open.length === 0 && !held) || Date.now() > deadline) return requests;
    await sleep(500);
  }
}

export async function runChaos(options: ChaosOptions, workDir: string): Promise<ChaosResult> {
  const logDir = options.logDir ?? join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const log = (line: string): void => {
    appendFileSync(join(logDir, 'run.log'), `${new Date().toISOString()} ${line}\n`);
    options.log?.(line);
  };
  log(`seed ${options.seed}, ${options.lifecycles} lifecycles, kills ${options.kills}, faults ${options.faultRate}`);
  const random = seededRandom(options.seed);
  const stack = await startChaosStack({ policyFile: chaosPolicy(workDir), seed: chaosSeed(workDir, options.lifecycles) }, logDir);
  const instances: Instance[] = [];
  try {
    const entry = buildApp(join(workDir, 'app'));
    // Notifications and events have tests of their own (outbox-kill among them): without them the
    // instances do what this run is about, and the machine keeps up.
    const appSettings = Object.fromEntries(Object.entries(stack.appSettings).filter(([name]) => !/^(SMTP_|TEAMS_|EVENTGRID_)/.test(name)));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const settings: AppProcessSettings = { port, appSettings, jwk: stack.jwk, issuer: ISSUER, audience: API_AUDIENCE, log: true };
      instances.push(new Instance(`http://127.0.0.1:${port}`, entry, settings, join(logDir, `app-${i + 1}.log`)));
    }
    await Promise.all(instances.map((instance) => instance.start()));
    const faults = options.faultRate;
    await stack.setFaults({ throttle: faults * 0.4, unavailable: faults * 0.3, drop: faults * 0.3 });

    const lifecycles: Lifecycle[] = Array.from({ length: options.lifecycles }, (_, n) => {
      const requester = SECURITY_TEAM[Math.floor(random() * 3)]!;
      const others = SECURITY_TEAM.filter((p) => p !== requester);
      return { n, kind: pickKind(random), scope: `/keys/${keyName(n)}`, requester, approver: others[Math.floor(random() * 2)]!, problems: [] };
    });
    const watcher = watch(stack, new Set(lifecycles.map((l) => l.scope)));
    const client = new Client(stack, instances, random);
    let started = 0;
    let finished = false;
    const kills = options.kills
      ? killLoop(instances, random, () => finished, () => started < options.lifecycles * 0.6, log)
      : Promise.resolve(0);
    let reconciled = false;
    const worker = async (): Promise<void> => {
      while (started < lifecycles.length) {
        const lifecycle = lifecycles[started++]!;
        if (!reconciled && started >= lifecycles.length / 2) {
          reconciled = true;
          const answer = await client.call('sam', 'POST', '/reconcile?mode=apply');
          // A 409 reconcile-in-progress after a lost answer is the first attempt's run.
          log(`reconcile in the middle: ${answer.status} ${String(answer.json.code ?? '')}`);
        }
        await runLifecycle(client, lifecycle, random).catch((error: Error) => lifecycle.problems.push(`${DROPPED}${error.message}`));
        if (lifecycle.n % 50 === 49) log(`${lifecycle.n + 1} lifecycles`);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    finished = true;
    const killCount = await kills;
    if (!instances[0]!.up) await instances[0]!.start();
    log(`all lifecycles driven, ${killCount} kills; waiting for expiries`);

    const requests = await waitUntilSettled(stack, lifecycles, Date.now() + 20_000 + SETTLE_MS);
    const lateSightings = await watcher.stop();
    await stack.setFaults({});
    const scopes = new Set(lifecycles.map((l) => l.scope));
    const leftOnHsm = (await stack.assignments()).filter((a) => scopes.has(a.properties.scope)).map((a) => a.properties.scope);
    // Every chain from genesis to its head row, and every anchored head (docs/ledger.md).
    const verified = verifyPartitionedAudit(await stack.ledger().auditTrail());
    const audit = verified.ok ? { ok: true } : { ok: false, detail: JSON.stringify(verified) };
    return { seed: options.seed, kills: killCount, lifecycles, requests, sightings: watcher.sightings, leftOnHsm, audit, serverErrors: client.serverErrors, lateSightings };
  } finally {
    await Promise.all(instances.map((instance) => instance.kill()));
    await stack.close();
  }
}

const ENDED = ['Expired', 'Revoked', 'Cancelled', 'Denied'];
/** The goal: no grant alive past its expiry by more than this. */
export const EXPIRY_GRACE_MS = 60_000;
/**
 * After a revoke's 200, a grant step that raced it may still land its create and take it back, or
 * (when it died) the revocation's follow-up does, a few seconds later: longer than this is a fault.
 */
export const REVOKE_SLACK_MS = 10_000;

export interface Invariants {
  lost: string[];
  orphaned: string[];
  duplicated: string[];
  revokesNotApplied: string[];
  aliveTooLong: string[];
}

/** What must hold whatever died when. */
export function invariants(result: ChaosResult): Invariants {
  const found: Invariants = { lost: [], orphaned: [...result.leftOnHsm.map((scope) => `${scope}: still assigned at the end`)], duplicated: [], revokesNotApplied: [], aliveTooLong: [] };
  const byScope = new Map<string, AccessRequest[]>();
  for (const request of result.requests.values()) byScope.set(request.scope, [...(byScope.get(request.scope) ?? []), request]);
  for (const lifecycle of result.lifecycles) {
    const id = lifecycle.requestId;
    const request = id ? result.requests.get(id) : undefined;
    // A request never acknowledged is not the service's to keep; one left Pending because the run dropped its lifecycle waits for a decision, as it should.
    const dropped = lifecycle.problems.some((problem) => problem.startsWith(DROPPED));
    if (id && !request) found.lost.push(`#${lifecycle.n} (${lifecycle.kind}) ${id}: acknowledged, not stored`);
    else if (!id && !dropped) found.lost.push(`#${lifecycle.n} (${lifecycle.kind}): never submitted: ${lifecycle.problems.join('; ')}`);
    else if (request && !ENDED.includes(request.status) && !(dropped && request.status === 'Pending')) found.lost.push(`#${lifecycle.n} (${lifecycle.kind}) ${id}: ${request.status} at the end`);
    if ((byScope.get(lifecycle.scope) ?? []).length > 1) found.duplicated.push(`#${lifecycle.n}: ${byScope.get(lifecycle.scope)!.length} requests on ${lifecycle.scope}`);
    if (request && request.history.filter((entry) => entry.to === 'Active' && entry.from === 'Approved').length > 1) found.duplicated.push(`${id}: granted twice`);
    for (const problem of lifecycle.problems) if (/revoke answered/.test(problem)) found.revokesNotApplied.push(`${id}: ${problem}`);
    const seen = result.sightings.get(lifecycle.scope);
    if (lifecycle.revokedAt !== undefined && request) {
      if (request.status !== 'Revoked') found.revokesNotApplied.push(`${id}: revoked with 200, but ${request.status}`);
      if (seen?.lastSeen !== undefined && seen.lastSeen > lifecycle.revokedAt + REVOKE_SLACK_MS) found.revokesNotApplied.push(`${id}: assignment seen ${seen.lastSeen - lifecycle.revokedAt} ms after the 200`);
    }
    if (request?.expiresAt && seen?.lastSeen !== undefined && seen.lastSeen > Date.parse(request.expiresAt) + EXPIRY_GRACE_MS) {
      found.aliveTooLong.push(`${id}: assignment seen ${seen.lastSeen - Date.parse(request.expiresAt)} ms after expiry`);
    }
  }
  if (!result.audit.ok) found.orphaned.push(`audit chain: ${result.audit.detail}`);
  return found;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The lags a bench prints: expiry to gone, revoke's 200 to gone, approval to first seen. */
export function lags(result: ChaosResult): { expiry: number[]; revoke: number[]; approvalToLive: number[] } {
  const expiry: number[] = [];
  const revokeLags: number[] = [];
  const approvalToLive: number[] = [];
  for (const lifecycle of result.lifecycles) {
    const request = lifecycle.requestId ? result.requests.get(lifecycle.requestId) : undefined;
    const seen = result.sightings.get(lifecycle.scope);
    if (!request || seen?.lastSeen === undefined) continue;
    const gone = seen.lastSeen + result.lateSightings.poll;
    if (request.status === 'Expired' && request.expiresAt) expiry.push(gone - Date.parse(request.expiresAt));
    if (lifecycle.revokedAt !== undefined) revokeLags.push(Math.max(0, gone - lifecycle.revokedAt));
    const approved = request.history.find((entry) => entry.to === 'Approved')?.at;
    if (approved && seen.firstSeen !== undefined && lifecycle.kind !== 'revoke-after-approval') approvalToLive.push(seen.firstSeen - Date.parse(approved));
  }
  const sort = (values: number[]): number[] => values.sort((a, b) => a - b);
  return { expiry: sort(expiry), revoke: sort(revokeLags), approvalToLive: sort(approvalToLive) };
}
