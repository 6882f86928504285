import { readFileSync } from 'node:fs';
import { InMemoryGroupMembers, PolicyGroupMembers, type GroupMembers } from '../services/groupMembers';
import type { Policy } from '../domain';
import { ConfigurationError } from './config';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Group members for the bot's personal cards. `GROUP_MEMBERS_FILE` names a JSON file
 * `{ "groups": { "<group object id>": ["<member object id>", ...] } }` (the local stack writes one from
 * its personas); without it, the members the policy declares.
 */
export function loadGroupMembers(env: NodeJS.ProcessEnv, policy: Policy): GroupMembers {
  const file = env.GROUP_MEMBERS_FILE?.trim();
  if (!file) return new PolicyGroupMembers(policy);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigurationError([`GROUP_MEMBERS_FILE could not be read as JSON: ${(error as Error).message}`]);
  }
  const groups = (parsed as { groups?: unknown } | null)?.groups;
  const valid = groups !== null && typeof groups === 'object' && Object.entries(groups as object).every(([id, members]) => GUID.test(id) && Array.isArray(members) && members.every((m) => typeof m === 'string' && GUID.test(m)));
  if (!valid) throw new ConfigurationError(['GROUP_MEMBERS_FILE must hold { "groups": { "<group object id>": ["<member object id>", ...] } }']);
  return new InMemoryGroupMembers(groups as Record<string, string[]>);
}
