import { AppError, type AppErrorCode } from '@anneal/core';
import type { RestDialect } from '../rest/dispatch.ts';

/** MLflow's error codes (databricks_pb2.ErrorCode) that this API answers, with MLflow's statuses. */
export const MLFLOW_STATUS = {
  INVALID_PARAMETER_VALUE: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  RESOURCE_CONFLICT: 409,
  REQUEST_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
} as const;
export type MlflowCode = keyof typeof MLFLOW_STATUS;

/** An error whose MLflow code is chosen by the handler rather than derived from the AppError code. */
export class MlflowError extends AppError {
  constructor(
    readonly mlflowCode: MlflowCode,
    message: string,
  ) {
    super(APP_CODE[mlflowCode], message);
  }
}

const APP_CODE: Record<MlflowCode, AppErrorCode> = {
  INVALID_PARAMETER_VALUE: 'BAD_REQUEST',
  RESOURCE_ALREADY_EXISTS: 'CONFLICT',
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  PERMISSION_DENIED: 'FORBIDDEN',
  RESOURCE_DOES_NOT_EXIST: 'NOT_FOUND',
  ENDPOINT_NOT_FOUND: 'NOT_FOUND',
  RESOURCE_CONFLICT: 'CONFLICT',
  REQUEST_LIMIT_EXCEEDED: 'RATE_LIMITED',
  INTERNAL_ERROR: 'INTERNAL',
};

/** The MLflow code for an error raised by Anneal's own layers (auth, validation, domain). */
const FROM_APP: Record<AppErrorCode, MlflowCode> = {
  BAD_REQUEST: 'INVALID_PARAMETER_VALUE',
  UNAUTHORIZED: 'UNAUTHENTICATED',
  FORBIDDEN: 'PERMISSION_DENIED',
  NOT_FOUND: 'RESOURCE_DOES_NOT_EXIST',
  CONFLICT: 'RESOURCE_ALREADY_EXISTS',
  // MLflow's INVALID_STATE is a 500; a failed precondition is the caller's to fix.
  PRECONDITION_FAILED: 'BAD_REQUEST',
  // MLflow has no 413: its own size checks (log-batch) answer INVALID_PARAMETER_VALUE.
  PAYLOAD_TOO_LARGE: 'INVALID_PARAMETER_VALUE',
  RESOURCE_EXHAUSTED: 'REQUEST_LIMIT_EXCEEDED',
  RATE_LIMITED: 'REQUEST_LIMIT_EXCEEDED',
  // MLflow has no 503 code; no MLflow route reaches a replica, so none raises it today.
  UNAVAILABLE: 'INTERNAL_ERROR',
  INTERNAL: 'INTERNAL_ERROR',
};

export function mlflowCodeOf(err: AppError): MlflowCode {
  return err instanceof MlflowError ? err.mlflowCode : FROM_APP[err.code];
}

/** MLflow's REST API: `{"error_code", "message"}` with MLflow's statuses. */
export const MLFLOW_PREFIX = '/api/2.0';
export const mlflowDialect: RestDialect = {
  prefix: MLFLOW_PREFIX,
  openapi: false,
  error(err, kind) {
    const code: MlflowCode = kind === 'no-route' ? 'ENDPOINT_NOT_FOUND' : mlflowCodeOf(err);
    return { status: MLFLOW_STATUS[code], body: { error_code: code, message: err.message } };
  },
};

/**
 * MLflow 3 serves its GenAI endpoints (traces, prompts, ...) under `/api/3.0/mlflow/`. Anneal
 * has none; this dialect has no routes and answers each call ENDPOINT_NOT_FOUND in MLflow's
 * shape, so a client reads why instead of an HTML page.
 */
export const MLFLOW_V3_PREFIX = '/api/3.0';
export const mlflowV3Dialect: RestDialect = { ...mlflowDialect, prefix: MLFLOW_V3_PREFIX };

export function invalid(message: string): MlflowError {
  return new MlflowError('INVALID_PARAMETER_VALUE', message);
}
