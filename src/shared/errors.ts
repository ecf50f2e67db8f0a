// The error catalog: every error a caller of Tillpoint can see, with its HTTP status and default message.
// A decline is not an error (it is a result with a reason); an error is a request that could not be
// processed. A broken invariant is neither: it is a bug, raised by `assert`.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'unprocessable_error'
  | 'rate_limit_error'
  | 'unavailable_error'
  | 'api_error';

interface ErrorDefinition {
  readonly status: 400 | 401 | 403 | 404 | 409 | 422 | 429 | 500 | 503;
  readonly message: string;
}

export const errorCatalog = {
  // Requests
  TILLPOINT_ERR_VALIDATION: { status: 400, message: 'The request is not valid' },
  TILLPOINT_ERR_MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON' },
  TILLPOINT_ERR_UNAUTHENTICATED: { status: 401, message: 'Authentication is required' },
  TILLPOINT_ERR_FORBIDDEN: { status: 403, message: 'Not allowed' },
  TILLPOINT_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  TILLPOINT_ERR_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  TILLPOINT_ERR_INTERNAL: { status: 500, message: 'Internal error' },
  TILLPOINT_ERR_UNAVAILABLE: { status: 503, message: 'The service is not ready' },
  TILLPOINT_ERR_IDEMPOTENCY_CONFLICT: {
    status: 409,
    message: 'The idempotency key was already used with a different request',
  },

  // Configuration and start-up
  TILLPOINT_ERR_CONFIG: { status: 500, message: 'The configuration is not valid' },
  TILLPOINT_ERR_DATA_DIR_LOCKED: { status: 409, message: 'The data directory is in use by another process' },
  TILLPOINT_ERR_DATA_DIR_NOT_WRITABLE: { status: 500, message: 'The data directory is not writable' },
  TILLPOINT_ERR_DATABASE_UNREACHABLE: { status: 503, message: 'The database cannot be reached' },
  TILLPOINT_ERR_MIGRATIONS_PENDING: { status: 503, message: 'The database schema is not up to date' },

  // Money
  TILLPOINT_ERR_AMOUNT_INVALID: { status: 400, message: 'The amount is not valid' },
  TILLPOINT_ERR_CURRENCY_UNKNOWN: { status: 400, message: 'The currency is not supported' },

  // Secrets
  TILLPOINT_ERR_MASTER_KEY_INVALID: { status: 500, message: 'The master key is not valid' },
  TILLPOINT_ERR_SEALED_DATA_INVALID: {
    status: 500,
    message: 'Sealed data cannot be opened with this key and context',
  },

  // Ledger
  TILLPOINT_ERR_ACCOUNT_NOT_FOUND: { status: 404, message: 'No such ledger account' },
  TILLPOINT_ERR_ACCOUNT_EXISTS: { status: 409, message: 'A ledger account with this code already exists' },
  TILLPOINT_ERR_ACCOUNT_CLOSED: { status: 422, message: 'The ledger account is closed' },
  TILLPOINT_ERR_ACCOUNT_NOT_EMPTY: { status: 422, message: 'The ledger account still has a balance' },
  TILLPOINT_ERR_ENTRY_NOT_FOUND: { status: 404, message: 'No such journal entry' },
  TILLPOINT_ERR_ENTRY_UNBALANCED: {
    status: 422,
    message: 'The entry does not balance: debits must equal credits per currency',
  },
  TILLPOINT_ERR_ENTRY_TOO_FEW_POSTINGS: { status: 422, message: 'An entry needs at least two postings' },
  TILLPOINT_ERR_CURRENCY_MISMATCH: {
    status: 422,
    message: "The posting's currency differs from its account's",
  },
  TILLPOINT_ERR_INSUFFICIENT_BALANCE: {
    status: 422,
    message: 'The posting would take an account that may not go negative below zero',
  },
  TILLPOINT_ERR_ENTRY_CONFLICT: {
    status: 409,
    message: 'An entry with this idempotency key exists with different content',
  },
  TILLPOINT_ERR_PENDING_NOT_FOUND: { status: 404, message: 'No such pending entry' },
  TILLPOINT_ERR_PENDING_ALREADY_RESOLVED: {
    status: 409,
    message: 'The pending entry was already posted, voided or expired',
  },
  TILLPOINT_ERR_PENDING_EXCEEDED: { status: 422, message: 'The amount to post exceeds the pending amount' },
  TILLPOINT_ERR_ENTRY_ALREADY_REVERSED: { status: 409, message: 'The entry was already reversed' },

  // Merchants and terminals
  TILLPOINT_ERR_MERCHANT_NOT_FOUND: { status: 404, message: 'No such merchant' },
  TILLPOINT_ERR_TERMINAL_NOT_FOUND: { status: 404, message: 'No such terminal' },
  TILLPOINT_ERR_TERMINAL_NOT_ACTIVE: { status: 422, message: 'The terminal or its merchant is not active' },
  TILLPOINT_ERR_OPERATOR_UNKNOWN: { status: 422, message: 'No such active operator for this merchant' },

  // Audit
  TILLPOINT_ERR_AUDIT_CHAIN_BROKEN: { status: 500, message: 'The audit log chain is broken' },

  // Keys
  TILLPOINT_ERR_KEY_LENGTH_INVALID: { status: 400, message: 'The key or component has the wrong length' },
  TILLPOINT_ERR_KEY_WEAK: {
    status: 400,
    message: 'The key is degenerate (all zeros, or single DES in a 3DES key)',
  },
  TILLPOINT_ERR_KEY_USAGE_MISMATCH: { status: 422, message: 'The key may not be used for this operation' },
  TILLPOINT_ERR_KEY_ALGORITHM_MISMATCH: {
    status: 422,
    message: "The key's algorithm does not fit this operation",
  },
  TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH: {
    status: 422,
    message: 'The key check value does not match the stated one',
  },
  TILLPOINT_ERR_KEY_BLOCK_INVALID: { status: 422, message: 'The encrypted key block is malformed' },
  TILLPOINT_ERR_KEY_SET_UNSUPPORTED: { status: 422, message: 'The requested working-key set is not offered' },
  TILLPOINT_ERR_KEY_DESTROYED: { status: 500, message: 'The key was destroyed and cannot be used' },
  TILLPOINT_ERR_KEY_NOT_FOUND: { status: 404, message: 'No such key in the key store' },
  TILLPOINT_ERR_KEY_RETIRED: { status: 422, message: 'The key is retired and may not be used for new work' },
  TILLPOINT_ERR_CARD_TOKEN_NOT_FOUND: { status: 404, message: 'No such card token, or no PAN kept for it' },
  TILLPOINT_ERR_PIN_BLOCK_INVALID: {
    status: 422,
    message: 'The PIN block is not a valid ISO 9564 format 0 block',
  },
  TILLPOINT_ERR_PIN_BLOCK_PAN_INVALID: {
    status: 400,
    message: 'The PAN cannot form an ISO 9564 format 0 PIN block',
  },
  TILLPOINT_ERR_PIN_INVALID: { status: 400, message: 'The PIN must be 4 to 12 decimal digits' },
  TILLPOINT_ERR_CIPHER_DATA_LENGTH_INVALID: {
    status: 400,
    message: 'The data has the wrong length for this cipher',
  },
  TILLPOINT_ERR_CIPHER_UNAVAILABLE: {
    status: 500,
    message: "A cipher Tillpoint needs is missing from this Node.js build's OpenSSL",
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof errorCatalog;

export function errorTypeOf(status: number): ErrorType {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 409:
      return 'conflict_error';
    case 422:
      return 'unprocessable_error';
    case 429:
      return 'rate_limit_error';
    case 503:
      return 'unavailable_error';
    default:
      return 'api_error';
  }
}

export interface TillpointErrorOptions {
  /** The input that is wrong: a JSON path (`postings[1].amount`), a field (`field 4`), a flag or a variable. */
  param?: string;
  cause?: unknown;
}

/** A request that cannot be processed. Its code is in the catalog; its message says what is wrong. */
export class TillpointError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | undefined;

  constructor(code: ErrorCode, message?: string, options: TillpointErrorOptions = {}) {
    const definition = errorCatalog[code];
    super(message ?? definition.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TillpointError';
    this.code = code;
    this.status = definition.status;
    this.type = errorTypeOf(definition.status);
    this.param = options.param;
  }

  toJSON(): { type: ErrorType; code: ErrorCode; message: string; param?: string } {
    return {
      type: this.type,
      code: this.code,
      message: this.message,
      ...(this.param === undefined ? {} : { param: this.param }),
    };
  }
}

export function isTillpointError(error: unknown, code?: ErrorCode): error is TillpointError {
  return error instanceof TillpointError && (code === undefined || error.code === code);
}
