/**
 * The directory (Microsoft Entra ID, through Microsoft Graph) as the services need it: the groups
 * a person is in when their token could not carry them all, and who is in a group.
 */

/**
 * Why a token's `groups` claim is not the whole list: Entra left it out and said so.
 * `distributed-claim`: `_claim_names` names `groups` (a JWT past 200 groups); `hasgroups`: the
 * implicit flow's marker (6 or more groups in an id token).
 */
export type GroupOverage = 'distributed-claim' | 'hasgroups';

export interface DirectoryUser {
  /** Entra object id, lower case. */
  readonly id: string;
  /** Absent when the directory would not show it (an app without permission to read users' profiles). */
  readonly displayName?: string;
  readonly userPrincipalName?: string;
}

export interface GroupDirectory {
  /** Object ids (lower case) of the security groups a user is in, directly or through nested groups. */
  memberGroups(objectId: string): Promise<readonly string[]>;
  /** The users in a group, directly or through nested groups. */
  membersOf(groupId: string): Promise<readonly DirectoryUser[]>;
}

/** The directory could not answer; `reason` says why in words an operator can act on. */
export class DirectoryError extends Error {
  constructor(readonly reason: string, readonly status?: number, readonly code?: string) {
    super(reason);
    this.name = 'DirectoryError';
  }
}
