import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parsePolicy } from '../shared/domain/policy/parse';
import type { ApiClient } from './client';
import { CliError, EXIT } from './exitCodes';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isGuid = (text: string): boolean => GUID.test(text);

export interface Named {
  readonly objectId: string;
  readonly names: readonly string[];
}

/** Principals with an object id and names, wherever they sit in a JSON answer (the eligibility API's grantees). */
function namedIn(value: unknown, found: Map<string, Set<string>>): void {
  if (Array.isArray(value)) return value.forEach((v) => namedIn(v, found));
  if (typeof value !== 'object' || value === null) return;
  const record = value as Record<string, unknown>;
  const id = [record.objectId, record.principalId].find((v): v is string => typeof v === 'string' && isGuid(v));
  const names = [record.alias, record.name, record.displayName].filter((v): v is string => typeof v === 'string' && v.length > 0);
  if (id && names.length > 0) {
    const set = found.get(id.toLowerCase()) ?? new Set<string>();
    names.forEach((n) => set.add(n));
    found.set(id.toLowerCase(), set);
  }
  Object.values(record).forEach((v) => namedIn(v, found));
}

/** The policy file the CLI may read names from: --policy, HSMGOV_POLICY, POLICY_FILE, or the Contoso example beside it. */
export function policyFileFor(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [explicit, env.HSMGOV_POLICY, env.POLICY_FILE, 'examples/contoso/policy.yaml'].filter((c): c is string => !!c);
  return candidates.map((c) => resolve(c)).find((c) => existsSync(c));
}

/**
 * Who is who: the grantees the service's eligibility API names for the caller, and the principals of a
 * local policy file when one is at hand (a service without the eligibility API, or an offline check).
 */
export class Directory {
  private constructor(private readonly entries: Map<string, Set<string>>) {}

  static async load(api: ApiClient | undefined, policyFile: string | undefined): Promise<Directory> {
    const found = new Map<string, Set<string>>();
    if (api) {
      try {
        namedIn(await api.call('/api/eligibility'), found);
      } catch (error) {
        if (!(error instanceof CliError) || error.exitCode !== EXIT.notFound) throw error;
      }
    }
    if (policyFile) {
      const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile);
      for (const p of Object.values(policy.principals)) namedIn([{ objectId: p.objectId, alias: p.alias, displayName: p.displayName }], found);
    }
    return new Directory(found);
  }

  /** The object id for a name (alias or display name, any case), a GUID as is. */
  objectIdOf(name: string): string {
    if (isGuid(name)) return name.toLowerCase();
    const wanted = name.toLowerCase();
    const matches = [...this.entries].filter(([, names]) => [...names].some((n) => n.toLowerCase() === wanted)).map(([id]) => id);
    if (matches.length === 1) return matches[0];
    const known = [...this.entries.values()].map((names) => [...names][0]).sort();
    if (matches.length > 1) throw new CliError(`'${name}' names ${matches.length} principals: use the object id`, EXIT.usage);
    throw new CliError(`No principal named '${name}'${known.length ? `. Known: ${known.join(', ')}` : ' (no eligibility API and no policy file to read names from: pass the object id)'}`, EXIT.usage);
  }

  /** The first name known for an object id, else the id. */
  nameOf(objectId: string): string {
    const names = this.entries.get(objectId.toLowerCase());
    return names ? [...names][0] : objectId;
  }
}
