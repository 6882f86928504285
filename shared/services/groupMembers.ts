/**
 * Who is in a group, for sending the Teams bot's cards to each member of an approver group: the
 * directory's answer (Microsoft Graph, `GroupDirectory`), or a fixed one in tests.
 */
import type { Policy } from '../domain';
import type { GroupDirectory } from './directoryPorts';

export interface GroupMembers {
  /** Object ids (lower case) of the people in the group; empty for a group it does not know. */
  membersOf(groupId: string): Promise<readonly string[]>;
}

/** A fixed directory: group object id to member object ids (tests, and the local stack's personas). */
export class InMemoryGroupMembers implements GroupMembers {
  private readonly groups: ReadonlyMap<string, readonly string[]>;

  constructor(groups: Readonly<Record<string, readonly string[]>>) {
    this.groups = new Map(Object.entries(groups).map(([group, members]) => [group.toLowerCase(), members.map((m) => m.toLowerCase())]));
  }

  async membersOf(groupId: string): Promise<readonly string[]> {
    return this.groups.get(groupId.toLowerCase()) ?? [];
  }
}

/** The members a policy declares for its groups (people only): never more than Entra ID would say. */
export class PolicyGroupMembers implements GroupMembers {
  constructor(private readonly policy: Policy) {}

  async membersOf(groupId: string): Promise<readonly string[]> {
    const group = Object.values(this.policy.principals).find((p) => p.type === 'Group' && p.objectId === groupId.toLowerCase());
    if (!group) return [];
    return group.members.flatMap((alias) => {
      const member = this.policy.principals[alias];
      return member && member.type !== 'Group' ? [member.objectId] : [];
    });
  }
}

/** The directory's members of a group (users, nested groups resolved), as object ids. */
export class DirectoryGroupMembers implements GroupMembers {
  constructor(private readonly directory: Pick<GroupDirectory, 'membersOf'>) {}

  async membersOf(groupId: string): Promise<readonly string[]> {
    return (await this.directory.membersOf(groupId)).map((user) => user.id.toLowerCase());
  }
}

