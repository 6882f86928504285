import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { diffPolicy, policyDiffIsEmpty, type PolicyDiff } from '../../shared/domain/policy/diff';
import { parsePolicy } from '../../shared/domain/policy/parse';
import { PolicyError, type Policy } from '../../shared/domain/policy/types';
import type { AccessRequest } from '../../shared/domain/lifecycle';
import { CliError, EXIT } from '../exitCodes';
import { table } from '../format';
import type { GlobalOptions, Io, Session } from '../context';
import { policyFileFor } from '../names';
import { allRequests, shortId } from './requests';

function readPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`Cannot read ${file}`, EXIT.usage);
  }
  try {
    return parsePolicy(text, file);
  } catch (error) {
    if (error instanceof PolicyError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

export function policyDiffText(diff: PolicyDiff, namesOf: (id: string) => string): string {
  const requests = (items: PolicyDiff['refusedRequests']): string => table(['ID', 'STATUS', 'ROLE', 'SCOPE', 'FOR', 'WHY'], items.map((i) => [shortId(i.requestId), i.status, i.role, i.scope, namesOf(i.principalId), `${i.detail} (${i.code})`]));
  return [
    `Open requests it would refuse (${diff.refusedRequests.length})`, requests(diff.refusedRequests),
    `Running grants it would no longer justify (${diff.unjustifiedGrants.length})`, requests(diff.unjustifiedGrants),
    `Standing assignments that would become drift (${diff.standing.length})`,
    table(['KIND', 'HSM', 'PRINCIPAL', 'ROLE', 'SCOPE', 'WHY'], diff.standing.map((s) => [s.kind, s.hsm, s.principal, s.role, s.scope, s.detail])),
  ].join('\n');
}

export function registerPolicyCommands(program: Command, open: (command: Command) => Session, io: Io, globalsOf: (command: Command) => GlobalOptions, setExit: (code: number) => void): void {
  const policy = program.command('policy').description('policy changes before they are deployed');
  policy.command('diff <new>')
    .description("what NEW.yaml would do: open requests it would refuse, running grants it would no longer justify, standing assignments that would become drift (exit 10 when anything)")
    .option('--current <file>', 'the policy in force (default: --policy, HSMGOV_POLICY, POLICY_FILE, examples/contoso/policy.yaml)')
    .option('--offline', "compare the files only: no requests from the service (standing assignments only)")
    .action(async (file: string, options: { current?: string; offline?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      const currentFile = options.current ?? policyFileFor(globals.policy, io.env);
      if (!currentFile) throw new CliError('Which policy is in force? Pass --current FILE', EXIT.usage);
      const [current, next] = [readPolicy(currentFile), readPolicy(file)];
      const session = options.offline ? undefined : open(command);
      const requests: AccessRequest[] = session ? await allRequests(session, {}) : [];
      const diff = diffPolicy(current, next, requests, new Date());
      const names = session ? await session.names() : undefined;
      if (globals.json) io.out(`${JSON.stringify({ current: currentFile, next: file, requestsChecked: requests.length, ...diff }, null, 2)}\n`);
      else io.out(`${currentFile} -> ${file} (${session ? `${requests.length} requests checked` : 'offline: no requests checked'})\n${policyDiffText(diff, (id) => names?.nameOf(id) ?? id)}`);
      setExit(policyDiffIsEmpty(diff) ? EXIT.ok : EXIT.changes);
    });
}
