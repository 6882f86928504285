import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy, createHttpHeaders, createPipelineFromOptions, createPipelineRequest, createDefaultHttpClient,
  type HttpClient, type Pipeline, type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { DirectoryError, type DirectoryUser, type GroupDirectory } from '../../services/directoryPorts';
import type { GraphSettings } from './settings';

export { readGraphSettings, GRAPH_ENDPOINT, GRAPH_SCOPE, type GraphSettings } from './settings';

/**
 * Microsoft Graph v1.0 as the app's managed identity reads it (application permission
 * GroupMember.Read.All; User.Read.All as well for members' names):
 *
 * - a user's groups, transitively: `GET /v1.0/users/{id}/transitiveMemberOf?$select=id,securityEnabled`,
 *   paged by `@odata.nextLink`, keeping the security groups (what `groupMembershipClaims:
 *   SecurityGroup` puts in tokens). Without an OData cast it needs no advanced query
 *   (`ConsistencyLevel: eventual` reads an index that may lag behind a removal).
 * - a group's users, transitively: `GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user
 *   ?$select=id,displayName,userPrincipalName&$count=true` with `ConsistencyLevel: eventual`, which
 *   Graph requires with an OData cast.
 */

const PAGE_SIZE = 999;
const MAX_PAGES = 100;
const REQUEST_TIMEOUT_MS = 5_000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface GraphPage {
  value?: unknown;
  '@odata.nextLink'?: unknown;
}

export interface GraphDirectoryOptions extends GraphSettings {
  credential: TokenCredential;
  /** Retries of the SDK's pipeline after the first attempt (429 and 503 with Retry-After, connection errors); default 1. */
  maxRetries?: number;
  /** Objects per page asked for (`$top`, 1-999; default 999, Graph's largest). */
  pageSize?: number;
  /** For tests. */
  httpClient?: HttpClient;
}

function graphError(response: PipelineResponse, what: string): DirectoryError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(response.bodyAsText ?? '') as { error?: { code?: unknown; message?: unknown } };
    code = typeof body.error?.code === 'string' ? body.error.code : undefined;
    message = typeof body.error?.message === 'string' ? body.error.message : undefined;
  } catch {
    // not Graph's error envelope
  }
  const hint = response.status === 401 ? ' (the app\'s token was refused)'
    : response.status === 403 ? ' (the app\'s identity lacks the Graph application permission GroupMember.Read.All: see infra/README.md)'
      : response.status === 404 ? ' (no such user or group in the directory)'
        : response.status === 429 ? ' (throttled)' : '';
  return new DirectoryError(`${what}: HTTP ${response.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}${hint}`, response.status, code);
}

export class GraphDirectory implements GroupDirectory {
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly endpoint: string;
  private readonly pageSize: number;

  constructor(options: GraphDirectoryOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.pageSize = options.pageSize ?? PAGE_SIZE;
    this.pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: options.maxRetries ?? 1 },
      ...(options.caPem ? { tlsOptions: { ca: options.caPem } } : {}),
      userAgentOptions: { userAgentPrefix: 'hsm-access-governor' },
    });
    this.pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: options.credential, scopes: options.scope }));
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
  }

  async memberGroups(objectId: string): Promise<readonly string[]> {
    if (!GUID.test(objectId)) throw new DirectoryError(`'${objectId}' is not an object id`);
    const what = `Listing the groups of ${objectId}`;
    const items = await this.collect(`${this.endpoint}/v1.0/users/${objectId}/transitiveMemberOf?$select=id,securityEnabled&$top=${this.pageSize}`, what, {});
    const groups = items.filter((item) => item['@odata.type'] === '#microsoft.graph.group' && item.securityEnabled === true && typeof item.id === 'string');
    return [...new Set(groups.map((g) => (g.id as string).toLowerCase()))];
  }

  async membersOf(groupId: string): Promise<readonly DirectoryUser[]> {
    if (!GUID.test(groupId)) throw new DirectoryError(`'${groupId}' is not an object id`);
    const what = `Listing the members of group ${groupId}`;
    const items = await this.collect(
      `${this.endpoint}/v1.0/groups/${groupId}/transitiveMembers/microsoft.graph.user?$select=id,displayName,userPrincipalName&$count=true&$top=${this.pageSize}`,
      what,
      { ConsistencyLevel: 'eventual' },
    );
    const users = new Map<string, DirectoryUser>();
    for (const item of items) {
      if (typeof item.id !== 'string') continue;
      const id = item.id.toLowerCase();
      users.set(id, {
        id,
        ...(typeof item.displayName === 'string' ? { displayName: item.displayName } : {}),
        ...(typeof item.userPrincipalName === 'string' ? { userPrincipalName: item.userPrincipalName } : {}),
      });
    }
    return [...users.values()];
  }

  /** Every page's `value`, following `@odata.nextLink` (only on Graph's own origin, where the token may go). */
  private async collect(firstUrl: string, what: string, headers: Record<string, string>): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let url: string | undefined = firstUrl;
    for (let page = 0; url; page += 1) {
      if (page >= MAX_PAGES) throw new DirectoryError(`${what}: more than ${MAX_PAGES} pages`);
      const body = await this.get(url, what, headers);
      if (!Array.isArray(body.value)) throw new DirectoryError(`${what}: the answer has no value list`);
      items.push(...body.value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)));
      const next = body['@odata.nextLink'];
      if (next === undefined || next === null) {
        url = undefined;
      } else if (typeof next !== 'string' || !this.onGraph(next)) {
        throw new DirectoryError(`${what}: @odata.nextLink does not lead to ${this.endpoint}`);
      } else {
        url = next;
      }
    }
    return items;
  }

  private onGraph(link: string): boolean {
    try {
      return new URL(link).origin === new URL(this.endpoint).origin;
    } catch {
      return false;
    }
  }

  private async get(url: string, what: string, headers: Record<string, string>): Promise<GraphPage> {
    const request = createPipelineRequest({ url, method: 'GET', headers: createHttpHeaders({ accept: 'application/json', ...headers }), timeout: REQUEST_TIMEOUT_MS });
    let response: PipelineResponse;
    try {
      response = await this.pipeline.sendRequest(this.httpClient, request);
    } catch (error) {
      throw new DirectoryError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (response.status !== 200) throw graphError(response, what);
    try {
      const parsed = JSON.parse(response.bodyAsText ?? '') as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      return parsed as GraphPage;
    } catch {
      throw new DirectoryError(`${what}: the answer is not JSON`);
    }
  }
}
