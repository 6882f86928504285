import { GROUPS, PERSONAS } from '../personas';

/**
 * The directory the stand-in answers from: users, service principals and groups, a group's members
 * being users, service principals or other groups. Seeded from the Contoso personas.
 */

export interface DirectoryGroup {
  id: string;
  displayName: string;
  securityEnabled: boolean;
  mailEnabled: boolean;
  /** Object ids of the direct members (users, service principals, groups). */
  members: string[];
}

export interface DirectoryPrincipal {
  id: string;
  type: 'user' | 'servicePrincipal';
  displayName: string;
  userPrincipalName?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class Directory {
  readonly principals = new Map<string, DirectoryPrincipal>();
  readonly groups = new Map<string, DirectoryGroup>();

  static contoso(): Directory {
    const directory = new Directory();
    for (const persona of Object.values(PERSONAS)) {
      directory.principals.set(persona.oid, persona.type === 'User'
        ? { id: persona.oid, type: 'user', displayName: persona.name, userPrincipalName: persona.upn }
        : { id: persona.oid, type: 'servicePrincipal', displayName: persona.name });
    }
    for (const group of Object.values(GROUPS)) {
      const members = Object.values(PERSONAS).filter((p) => (p.groups as readonly string[]).includes(group.oid)).map((p) => p.oid);
      directory.groups.set(group.oid, { id: group.oid, displayName: group.name, securityEnabled: true, mailEnabled: false, members });
    }
    return directory;
  }

  /** Adds or replaces a group (tests: nested groups, a user in hundreds of groups). */
  putGroup(input: unknown): DirectoryGroup {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('A group is a JSON object');
    const { id, displayName, securityEnabled, mailEnabled, members } = input as Record<string, unknown>;
    if (typeof id !== 'string' || !GUID.test(id)) throw new Error('id must be an object id (a GUID)');
    if (!Array.isArray(members) || !members.every((m): m is string => typeof m === 'string' && GUID.test(m))) throw new Error('members must be a list of object ids');
    const group: DirectoryGroup = {
      id: id.toLowerCase(),
      displayName: typeof displayName === 'string' ? displayName : id,
      securityEnabled: securityEnabled !== false,
      mailEnabled: mailEnabled === true,
      members: members.map((m) => m.toLowerCase()),
    };
    this.groups.set(group.id, group);
    return group;
  }

  /** Every group `objectId` is in, directly or through groups it is in, in a stable order. */
  transitiveMemberOf(objectId: string): DirectoryGroup[] {
    const found = new Map<string, DirectoryGroup>();
    const queue = [objectId.toLowerCase()];
    while (queue.length > 0) {
      const current = queue.shift() as string;
      for (const group of this.groups.values()) {
        if (group.members.includes(current) && !found.has(group.id)) {
          found.set(group.id, group);
          queue.push(group.id);
        }
      }
    }
    return [...found.values()];
  }

  /** Every member of `groupId`, directly or through nested groups (the nested groups included). */
  transitiveMembers(groupId: string): Array<{ kind: 'group'; group: DirectoryGroup } | { kind: 'principal'; principal: DirectoryPrincipal }> {
    const seen = new Set<string>([groupId]);
    const result: Array<{ kind: 'group'; group: DirectoryGroup } | { kind: 'principal'; principal: DirectoryPrincipal }> = [];
    const queue = [...(this.groups.get(groupId)?.members ?? [])];
    while (queue.length > 0) {
      const id = queue.shift() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const group = this.groups.get(id);
      if (group) {
        result.push({ kind: 'group', group });
        queue.push(...group.members);
        continue;
      }
      const principal = this.principals.get(id);
      if (principal) result.push({ kind: 'principal', principal });
    }
    return result;
  }
}
