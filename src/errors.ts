/**
 * Every error a client sees carries a stable `extensions.code`. Resolvers throw these; anything
 * else is masked as INTERNAL_SERVER_ERROR (see src/http/error-codes.ts) and logged with the
 * request id.
 */
import { GraphQLError } from 'graphql';

export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** An Idempotency-Key sent again with a different operation or variables (HTTP 422). */
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  /** An Idempotency-Key whose first request has not finished (HTTP 409; retry later). */
  IDEMPOTENCY_KEY_IN_PROGRESS: 'IDEMPOTENCY_KEY_IN_PROGRESS',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  /** The HTTP request itself is wrong: malformed JSON, a body that is not one operation. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** 413: the body is larger than MAX_REQUEST_BYTES. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** 415: operations come as JSON only (a cross-site form cannot send that without a preflight). */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** TRUSTED_DOCUMENTS=required: only operations from the manifest, by documentId. */
  PERSISTED_QUERY_ONLY: 'PERSISTED_QUERY_ONLY',
  /** A documentId the manifest does not hold. */
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

interface HttpExtension {
  status?: number;
  headers?: Record<string, string>;
}

export function gatewayError(
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
  http?: HttpExtension,
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extra, ...(http ? { http } : {}) } });
}

export function errorCodeOf(error: unknown): string | undefined {
  if (error instanceof GraphQLError) {
    const code = error.extensions?.code;
    if (typeof code === 'string') return code;
    if (error.originalError) return errorCodeOf(error.originalError);
  }
  return undefined;
}

/** A realm-less challenge: RFC 6750 §3. `error` is omitted when no token was sent. */
export function unauthenticated(message: string, description?: string): GraphQLError {
  const challenge = description
    ? `Bearer error="invalid_token", error_description="${description.replace(/"/g, "'")}"`
    : 'Bearer';
  return gatewayError(ErrorCode.UNAUTHENTICATED, message, {}, { status: 401, headers: { 'WWW-Authenticate': challenge } });
}

export function forbidden(message = 'You do not have permission to do this.', extra: Record<string, unknown> = {}): GraphQLError {
  return gatewayError(ErrorCode.FORBIDDEN, message, extra);
}

/** Also what another tenant's object answers: the message never says "exists but not yours". */
export function notFound(resourceType: string, id?: string): GraphQLError {
  return gatewayError(ErrorCode.NOT_FOUND, `${resourceType} not found.`, { resourceType, ...(id ? { id } : {}) });
}

export function badUserInput(field: string, message: string): GraphQLError {
  return gatewayError(ErrorCode.BAD_USER_INPUT, `${field}: ${message}`, { field });
}

export function conflict(message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return gatewayError(ErrorCode.CONFLICT, message, extra);
}

export function serviceUnavailable(message: string, retryAfterSeconds?: number): GraphQLError {
  return gatewayError(
    ErrorCode.SERVICE_UNAVAILABLE,
    message,
    {},
    { status: 503, ...(retryAfterSeconds ? { headers: { 'Retry-After': String(retryAfterSeconds) } } : {}) },
  );
}

export function rateLimited(message: string, retryAfterSeconds: number): GraphQLError {
  return gatewayError(
    ErrorCode.RATE_LIMITED,
    message,
    { retryAfterSeconds },
    { status: 429, headers: { 'Retry-After': String(retryAfterSeconds) } },
  );
}
