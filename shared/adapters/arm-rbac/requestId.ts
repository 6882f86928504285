/** What the SDK hands `onResponse`: the raw answer of each call. */
export interface RawArmResponse {
  status: number;
  headers: { get(name: string): string | undefined };
}

export interface ResponseRecorder {
  /** The SDK's `onResponse` operation option. */
  onResponse: (response: RawArmResponse) => void;
  /** ARM's `x-ms-request-id` of the last answer (its correlation id when there is none). */
  lastRequestId(): string | undefined;
  lastStatus(): number | undefined;
}

/** Remembers what ARM answered last, so the audit trail can name the ARM call that changed access. */
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
