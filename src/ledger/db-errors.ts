import { TillpointError } from '../shared/errors.ts';

// Maps what PostgreSQL says when a ledger rule stops a write (the triggers' TPL codes, constraints)
// to the error catalog. Anything else is passed through unchanged.

interface PgError {
  code?: string;
  constraint?: string;
  message?: string;
}

export function ledgerErrorFromDatabase(error: unknown): unknown {
  const pg = error as PgError;
  if (typeof pg?.code !== 'string') return error;
  const message = pg.message ?? '';
  switch (pg.code) {
    case 'TPL01':
      return new TillpointError('TILLPOINT_ERR_ENTRY_UNBALANCED', message, { cause: error });
    case 'TPL02':
      return new TillpointError('TILLPOINT_ERR_ENTRY_TOO_FEW_POSTINGS', message, { cause: error });
    case 'TPL03':
      return new TillpointError('TILLPOINT_ERR_ACCOUNT_CLOSED', message, { cause: error });
    case 'TPL06':
      return new TillpointError('TILLPOINT_ERR_PENDING_ALREADY_RESOLVED', message, { cause: error });
    case 'TPL07':
      return new TillpointError('TILLPOINT_ERR_ACCOUNT_NOT_EMPTY', message, { cause: error });
    case 'TPL08':
      return new TillpointError('TILLPOINT_ERR_VALIDATION', message, { cause: error });
    case 'TPL09':
      return new TillpointError('TILLPOINT_ERR_PENDING_EXCEEDED', message, { cause: error });
    case 'TPL10':
      return new TillpointError('TILLPOINT_ERR_CURRENCY_MISMATCH', message, { cause: error });
    case 'TPL11':
      return new TillpointError('TILLPOINT_ERR_ACCOUNT_NOT_FOUND', message, { cause: error });
    case 'TPL12':
      return new TillpointError('TILLPOINT_ERR_VALIDATION', message, { cause: error });
    case '23514':
      if (pg.constraint === 'ledger_balances_no_negative') {
        return new TillpointError(
          'TILLPOINT_ERR_INSUFFICIENT_BALANCE',
          'The entry would take an account that may not go negative below zero',
          { cause: error },
        );
      }
      return error;
    case '23505':
      if (pg.constraint === 'ledger_entries_pending_entry_id_unique') {
        return new TillpointError('TILLPOINT_ERR_PENDING_ALREADY_RESOLVED', undefined, { cause: error });
      }
      if (pg.constraint === 'ledger_entries_reverses_entry_id_unique') {
        return new TillpointError('TILLPOINT_ERR_ENTRY_ALREADY_REVERSED', undefined, { cause: error });
      }
      if (pg.constraint === 'ledger_accounts_code_unique') {
        return new TillpointError('TILLPOINT_ERR_ACCOUNT_EXISTS', undefined, { cause: error });
      }
      return error;
    default:
      return error;
  }
}
