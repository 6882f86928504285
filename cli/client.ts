import type { TokenCredential } from '@azure/core-auth';
import { CliError, EXIT, exitForStatus } from './exitCodes';

export interface ApiCall {
  readonly method?: 'GET' | 'POST';
  readonly query?: Record<string, string | undefined>;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** The service's API as the CLI calls it: a bearer token on every call, problem+json turned into CliError. */
export class ApiClient {
  constructor(private readonly base: string, private readonly credential: TokenCredential, private readonly scope: string) {}

  get baseUrl(): string {
    return this.base.replace(/\/$/, '');
  }

  async call<T = Record<string, unknown>>(path: string, call: ApiCall = {}): Promise<T> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(call.query ?? {})) if (value !== undefined) url.searchParams.set(name, value);
    const method = call.method ?? 'GET';
    const token = await this.token();
    // The API takes every change as JSON, an empty body too (else 415).
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...call.headers };
    let response: Response;
    try {
      response = await fetch(url, { method, headers, ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}) });
    } catch (error) {
      throw new CliError(`The service at ${this.baseUrl} does not answer (${(error as Error).cause ?? (error as Error).message}): is it running?`, EXIT.unavailable);
    }
    const text = await response.text();
    const parsed = parseJson(text);
    if (!response.ok) throw problemError(response, parsed, text);
    if (parsed === undefined) throw new CliError(`${method} ${path} answered ${response.status} with something that is not JSON`, EXIT.failure);
    return parsed as T;
  }

  private async token(): Promise<string> {
    try {
      const token = await this.credential.getToken(this.scope);
      if (!token) throw new Error('no token');
      return token.token;
    } catch (error) {
      throw new CliError(`Could not get a token for ${this.scope}: ${(error as Error).message}. Run 'hsmgov login' again`, EXIT.unauthenticated);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** The API's own words: a problem+json `detail` (and its `code`), else the 401's WWW-Authenticate, else the status. */
function problemError(response: Response, parsed: unknown, text: string): CliError {
  const problem = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  const detail = typeof problem?.detail === 'string' ? problem.detail : typeof problem?.title === 'string' ? problem.title : undefined;
  const code = typeof problem?.code === 'string' ? problem.code : undefined;
  const challenge = response.headers.get('www-authenticate');
  const words = detail ?? (response.status === 401 && challenge ? `not signed in: ${challenge}` : text.trim().slice(0, 300) || response.statusText);
  return new CliError(`${words}${code ? ` (${code})` : ''}`, exitForStatus(response.status), problem ?? { status: response.status });
}
