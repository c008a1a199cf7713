/** `code` when the server could not be reached or the connection broke (`status` null). */
export const CONNECTION_FAILED = "connection_failed";
/** `code` when an answer is not the server's JSON (a proxy's error page, a truncated body). */
export const UNEXPECTED_RESPONSE = "unexpected_response";

/**
 * A request the server refused or could not answer. `code` is the server's machine-readable code
 * (`invalid_api_key`, `validation_failed`, ...) or one of this module's own; `body` is the whole error body.
 */
export class ClaraApiError extends Error {
  readonly code: string;
  readonly status: number | null;
  readonly body: Record<string, unknown>;
  /** Seconds to wait before retrying (a 429 or 503's `Retry-After`), when the server said. */
  readonly retryAfter: number | null;

  constructor(
    code: string,
    message: string,
    options: { status?: number | null; body?: Record<string, unknown>; retryAfter?: number | null; cause?: unknown } = {},
  ) {
    super(options.status == null ? `${code}: ${message}` : `${options.status} ${code}: ${message}`, {
      cause: options.cause,
    });
    this.name = "ClaraApiError";
    this.code = code;
    this.status = options.status ?? null;
    this.body = options.body ?? {};
    this.retryAfter = options.retryAfter ?? null;
  }

  /** Every problem of a 400 `validation_failed` (or `input_validation_failed`), else empty. */
  get validationErrors(): string[] {
    const problems = this.body["validationErrors"];
    return Array.isArray(problems) ? problems.map(String) : [];
  }
}

export async function errorOf(response: Response): Promise<ClaraApiError> {
  const text = await response.text();
  const header = response.headers.get("retry-after");
  const retryAfter = header !== null && /^\d+(\.\d+)?$/.test(header) ? Number(header) : null;
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (body !== null && typeof body === "object" && typeof (body as Record<string, unknown>)["code"] === "string") {
    const fields = body as Record<string, unknown>;
    const message = String(fields["message"] ?? fields["error"] ?? fields["code"]);
    return new ClaraApiError(String(fields["code"]), message, { status: response.status, body: fields, retryAfter });
  }
  return new ClaraApiError(UNEXPECTED_RESPONSE, `The server answered ${response.status} without its JSON: ${text.slice(0, 200)}`, {
    status: response.status,
    retryAfter,
  });
}
