import type { Command } from 'commander';
import { CliError, EXIT } from '../exitCodes';
import { table } from '../format';
import type { AuditRecord } from '../../shared/domain/audit';
import type { Session } from '../context';
import type { Directory } from '../names';
import { shortId } from './requests';

type Open = (command: Command) => Session;

interface DriftRow {
  kind: string;
  plane?: string;
  scope: string;
  principal?: string;
  principalId: string;
  role?: string;
  roleId?: string;
  action?: string;
  reason?: string;
}

function auditRows(records: readonly AuditRecord[], names: Directory): unknown[][] {
  return records.map((r) => [r.seq, r.at, r.action, names.nameOf(r.actor), shortId(r.requestId), r.from && r.to ? `${r.from} -> ${r.to}` : '', r.reason]);
}

function driftTable(items: readonly DriftRow[]): string {
  return table(['KIND', 'ACTION', 'PLANE', 'SCOPE', 'PRINCIPAL', 'ROLE', 'WHY'], items.map((i) => [i.kind, i.action, i.plane ?? 'hsm', i.scope, i.principal ?? i.principalId, i.role ?? i.roleId, i.reason]));
}

interface AccessEntry { principal?: string; principalId: string; role: string; basis: string; driftKind?: string; expiresAt?: string; dataActions: string[] }
interface AccessReport { hsm: string; runId: string; inventoryAsOf: string; keys: { key: string; access: AccessEntry[] }[]; azureRbac: { principal?: string; principalId: string; role: string; scope: string; expiresAt?: string }[] }
interface KeysReport { asOf: string; expiringWithinDays: number; expiringSoon: { name: string; expiresOn: string; daysLeft: number }[]; expired: { name: string; expiresOn: string }[]; withoutExpiry: string[]; notRotated: { name: string; ageDays: number }[] }

function accessText(report: AccessReport): string {
  const rows = report.keys.flatMap((k) => k.access.map((a) => [k.key, a.principal ?? a.principalId, a.role.replace(/^Managed HSM /, ''), `${a.basis}${a.driftKind ? ` (${a.driftKind})` : ''}`, a.expiresAt ?? '']));
  const arm = report.azureRbac.map((g) => [g.principal ?? g.principalId, g.role, g.scope, g.expiresAt ?? '']);
  return `Access on ${report.hsm} as of ${report.inventoryAsOf} (run ${report.runId})\n${table(['KEY', 'PRINCIPAL', 'ROLE', 'BASIS', 'UNTIL'], rows)}\nAzure RBAC grants\n${table(['PRINCIPAL', 'ROLE', 'SCOPE', 'UNTIL'], arm)}`;
}

function keysText(report: KeysReport): string {
  const rows = [
    ...report.expired.map((k) => [k.name, 'expired', k.expiresOn]),
    ...report.expiringSoon.map((k) => [k.name, `expires in ${k.daysLeft} days`, k.expiresOn]),
    ...report.withoutExpiry.map((name) => [name, 'no expiry', '']),
    ...report.notRotated.map((k) => [k.name, `not rotated for ${k.ageDays} days`, '']),
  ];
  return `Keys as of ${report.asOf}\n${table(['KEY', 'FINDING', 'WHEN'], rows)}`;
}

export function registerOversightCommands(program: Command, open: Open): void {
  program.command('eligible').description('what you may ask for: rules, roles, keys, grantees, durations and approvers')
    .action(async (_options: unknown, command: Command) => {
      const session = open(command);
      const answer = await session.api.call<{ rules?: Record<string, unknown>[] }>('/api/eligibility');
      const rules = answer.rules ?? [];
      await session.emit(answer, () => table(['RULE', 'ROLES', 'KEYS', 'FOR', 'DEFAULT', 'MAX', 'APPROVALS'], rules.map(eligibleRow)));
    });

  program.command('audit').description('the audit trail (administrators and auditors), filtered by the service')
    .option('--from <time>', 'ISO 8601 start (inclusive)')
    .option('--to <time>', 'ISO 8601 end (exclusive)')
    .option('--who <principal>', 'records whose actor or grantee is this principal (alias or object id)')
    .option('--action <action>', 'an action (request.approved) or a family (request, reconcile)')
    .option('--key <name>', 'only records about this key')
    .option('--request <id>', 'only records of this request (or reconciliation run)')
    .action(async (options: { from?: string; to?: string; who?: string; action?: string; key?: string; request?: string }, command: Command) => {
      const session = open(command);
      const query = { from: options.from, to: options.to, who: options.who, action: options.action, key: options.key, requestId: options.request };
      const answer = await session.api.call<{ items: AuditRecord[] }>('/api/audit', { query });
      const names = await session.names();
      await session.emit({ items: answer.items }, () => table(['SEQ', 'AT', 'WHAT', 'WHO', 'REQUEST', 'STATUS', 'REASON'], auditRows(answer.items, names)));
    });

  const reconcile = program.command('reconcile').description('compare the HSM with the policy and the running grants (administrators)');
  for (const mode of ['plan', 'apply'] as const) {
    reconcile.command(mode).description(mode === 'plan' ? 'report drift, change nothing' : "repair drift where the policy's reconcile.mode is enforce")
      .action(async (_options: unknown, command: Command) => {
        const session = open(command);
        const answer = await session.api.call<{ id?: string; run?: { id: string; status: string }; status?: string; items?: DriftRow[]; report?: string }>('/api/reconcile', { method: 'POST', query: { mode } });
        const run = answer.run ?? { id: answer.id ?? '', status: answer.status ?? 'running' };
        await session.emit(answer, () => `Run ${run.id}: ${run.status}${answer.report ? ` (still going: hsmgov report reconcile ${run.id})` : ''}\n${driftTable(answer.items ?? [])}`);
      });
  }

  const report = program.command('report').description('reports for administrators and auditors');
  report.command('access').description('who can do what on each key (standing, just-in-time, drift)')
    .option('--key <name>', 'only this key')
    .action(async (options: { key?: string }, command: Command) => {
      const session = open(command);
      const answer = await session.api.call<AccessReport>('/api/reports/access', { query: { key: options.key } });
      await session.emit(answer, () => accessText(answer));
    });
  report.command('keys').description('keys expiring soon, without expiry, or not rotated')
    .option('--days <n>', 'expiring within this many days')
    .action(async (options: { days?: string }, command: Command) => {
      const session = open(command);
      const answer = await session.api.call<KeysReport>('/api/reports/keys', { query: { days: options.days } });
      await session.emit(answer, () => keysText(answer));
    });
  report.command('reconcile [runId]').description('a reconciliation run\'s report (default: the latest)')
    .action(async (runId: string | undefined, _options: unknown, command: Command) => {
      const session = open(command);
      if (runId !== undefined && !/^[\w-]{1,80}$/.test(runId)) throw new CliError(`'${runId}' is not a run id`, EXIT.usage);
      const answer = await session.api.call<{ run: { id: string; status: string }; items: DriftRow[] }>(`/api/reconcile/reports/${runId ?? 'latest'}`);
      await session.emit(answer, () => `Run ${answer.run.id}: ${answer.run.status}\n${driftTable(answer.items)}`);
    });
}

function eligibleRow(rule: Record<string, unknown>): unknown[] {
  const list = (value: unknown): string => (Array.isArray(value) ? value.map((v) => (typeof v === 'object' && v !== null ? String((v as Record<string, unknown>).name ?? (v as Record<string, unknown>).alias ?? (v as Record<string, unknown>).displayName ?? JSON.stringify(v)) : String(v))).join(', ') : value === undefined ? '' : String(value));
  const approval = rule.approval as { count?: number; approvers?: unknown } | undefined;
  return [rule.id, list(rule.roles), list(rule.keys ?? rule.scopes), list(rule.grantees), rule.defaultDuration, rule.maxDuration, approval ? `${approval.count ?? 0} of ${list(approval.approvers)}` : ''];
}

