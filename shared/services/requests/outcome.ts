/** A refusal the HTTP layer turns into `application/problem+json`. */
export interface Problem {
  readonly ok: false;
  readonly status: number;
  readonly code: string;
  readonly detail: string;
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | Problem;

export const problem = (status: number, code: string, detail: string): Problem => ({ ok: false, status, code, detail });
export const success = <T>(value: T): Outcome<T> => ({ ok: true, value });
/** The same answer for a request that does not exist and one the caller may not see: nobody learns which. */
export const notFound = (id: string): Problem => problem(404, 'request-not-found', `No request ${id} that you can see`);
