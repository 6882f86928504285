/** Remembers the HSM's `x-ms-request-id` of the last answer, so the audit trail can name the HSM call. */
export function requestIdRecorder(): { onResponse: (response: { headers: { get(name: string): string | undefined } }) => void; last(): string | undefined } {
  let last: string | undefined;
  return {
    onResponse: (response) => {
      last = response.headers.get('x-ms-request-id') ?? last;
    },
    last: () => last,
  };
}
