import { ConfigurationError, isHttpsOrigin, isLoopbackHost, parseUrl, readCaFile } from '../config';

/** Microsoft Graph in the public cloud, and the audience of its tokens. */
export const GRAPH_ENDPOINT = 'https://graph.microsoft.com';
export const GRAPH_SCOPE = `${GRAPH_ENDPOINT}/.default`;
/** Microsoft Graph's national cloud deployments (their tokens are for their own origin). */
const NATIONAL_CLOUDS = ['https://graph.microsoft.us', 'https://dod-graph.microsoft.us', 'https://microsoftgraph.chinacloudapi.cn'];

export interface GraphSettings {
  /** `https://graph.microsoft.com` in Azure; the local stand-in's URL in development. */
  endpoint: string;
  /** What the managed identity asks a token for. */
  scope: string;
  /** An extra CA to trust (the local stand-in's), as PEM. */
  caPem?: string;
}

/**
 * GRAPH_ENDPOINT (default Microsoft Graph) and GRAPH_CA_FILE (the local stand-in's CA). Tokens of
 * the app's identity go wherever GRAPH_ENDPOINT points: only Microsoft Graph, or a loopback stand-in.
 */
export function readGraphSettings(env: NodeJS.ProcessEnv): GraphSettings {
  const problems: string[] = [];
  const url = parseUrl(env.GRAPH_ENDPOINT?.trim() || GRAPH_ENDPOINT);
  let scope = GRAPH_SCOPE;
  if (!isHttpsOrigin(url)) {
    problems.push('GRAPH_ENDPOINT must be an https URL with no path, query or credentials');
  } else if (NATIONAL_CLOUDS.includes(url.origin)) {
    scope = `${url.origin}/.default`;
  } else if (url.origin !== GRAPH_ENDPOINT && !isLoopbackHost(url.hostname)) {
    problems.push('GRAPH_ENDPOINT must be https://graph.microsoft.com, a national cloud\'s Microsoft Graph, or a local stand-in on 127.0.0.1');
  }
  const caPem = readCaFile(env, 'GRAPH_CA_FILE', problems);
  if (problems.length > 0 || !url) throw new ConfigurationError(problems);
  return { endpoint: url.origin, scope, ...(caPem ? { caPem } : {}) };
}
