/** What an SDK call hands `onResponse`: the raw answer of each call (ARM's or the HSM's). */
export interface RawResponse {
  status: number;
  headers: { get(name: string): string | undefined };
}

export interface ResponseRecorder {
  /** The SDK's `onResponse` operation option. */
  onResponse: (response: RawResponse) => void;
  /** The `x-ms-request-id` of the last answer (ARM's correlation id when there is none). */
  lastRequestId(): string | undefined;
  lastStatus(): number | undefined;
}

/** Remembers what ARM or the HSM answered last, so the audit trail can name the call that changed access. */
export function responseRecorder(): ResponseRecorder {
  let requestId: string | undefined;
  let status: number | undefined;
  return {
    onResponse: (response) => {
      requestId = response.headers.get('x-ms-request-id') ?? response.headers.get('x-ms-correlation-request-id') ?? requestId;
      status = response.status;
    },
    lastRequestId: () => requestId,
    lastStatus: () => status,
  };
}

/** `result` with the last answer's request id as `hsmRequestId`, when there was one. */
export function withRequestId<T extends object>(result: T, recorder: ResponseRecorder): T & { hsmRequestId?: string } {
  const id = recorder.lastRequestId();
  return id ? { ...result, hsmRequestId: id } : result;
}
