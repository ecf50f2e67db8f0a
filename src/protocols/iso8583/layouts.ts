// Field 48 of the POS profile carries one of three digit layouts, chosen by the message:
// settlement totals (0500/0510), batch-upload details (0320 with 60.3 `201`) and the batch end
// (0320 with 60.3 `202`). These helpers turn a field-48 string into values and back.

import { Iso8583Error } from './errors.ts';

export interface SideTotals {
  readonly debitAmountMinor: bigint;
  readonly debitCount: number;
  readonly creditAmountMinor: bigint;
  readonly creditCount: number;
  /** 0 sent by the terminal; the host answers 1 balanced, 2 unbalanced, 3 error. */
  readonly result: number;
}

export interface SettlementTotals {
  readonly domestic: SideTotals;
  readonly foreign: SideTotals;
}

export interface BatchUploadDetail {
  /** n2, e.g. `00`. */
  readonly cardOrganization: string;
  /** n6: the POS trace (field 11) of the transaction. */
  readonly trace: string;
  /**
   * n20: the PAN left-aligned and zero-padded to 20 digits, as sent. The padding cannot be told from
   * a PAN's own trailing zeros, so match it against the stored PAN padded the same way.
   */
  readonly panZeroPadded: string;
  readonly amountMinor: bigint;
}

export const SETTLEMENT_TOTALS_DIGITS = 62;
export const BATCH_UPLOAD_DETAIL_DIGITS = 40;
export const BATCH_UPLOAD_MAX_DETAILS = 8;
export const BATCH_END_DIGITS = 4;

function layoutError(detail: string): Iso8583Error {
  return new Iso8583Error({
    field: 48,
    fieldName: 'additional data',
    reason: 'bad_layout',
    offset: -1,
    detail,
  });
}

function isDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function digits(value: bigint | number, width: number, what: string): string {
  const text = value.toString();
  if (value < 0 || text.length > width || !isDigits(text)) {
    throw layoutError(`${what} does not fit ${width} digits`);
  }
  return text.padStart(width, '0');
}

function encodeSide(side: SideTotals, name: string): string {
  return (
    digits(side.debitAmountMinor, 12, `${name} debit amount`) +
    digits(side.debitCount, 3, `${name} debit count`) +
    digits(side.creditAmountMinor, 12, `${name} credit amount`) +
    digits(side.creditCount, 3, `${name} credit count`) +
    digits(side.result, 1, `${name} result`)
  );
}

function decodeSide(text: string, at: number): SideTotals {
  return {
    debitAmountMinor: BigInt(text.slice(at, at + 12)),
    debitCount: Number(text.slice(at + 12, at + 15)),
    creditAmountMinor: BigInt(text.slice(at + 15, at + 27)),
    creditCount: Number(text.slice(at + 27, at + 30)),
    result: Number(text.slice(at + 30, at + 31)),
  };
}

export function encodeSettlementTotals(totals: SettlementTotals): string {
  return encodeSide(totals.domestic, 'domestic') + encodeSide(totals.foreign, 'foreign');
}

export function decodeSettlementTotals(field48: string): SettlementTotals {
  if (field48.length !== SETTLEMENT_TOTALS_DIGITS || !isDigits(field48)) {
    throw layoutError(
      `settlement totals are ${SETTLEMENT_TOTALS_DIGITS} digits, got ${field48.length} characters`,
    );
  }
  return { domestic: decodeSide(field48, 0), foreign: decodeSide(field48, 31) };
}

/** Count n2, then per detail: card organization n2 + trace n6 + PAN n20 + amount n12 (1 to 8 details). */
export function encodeBatchUploadDetails(details: readonly BatchUploadDetail[]): string {
  if (details.length < 1 || details.length > BATCH_UPLOAD_MAX_DETAILS) {
    throw layoutError(
      `a batch upload carries 1 to ${BATCH_UPLOAD_MAX_DETAILS} details, got ${details.length}`,
    );
  }
  let text = digits(details.length, 2, 'detail count');
  details.forEach((detail, i) => {
    const { cardOrganization, trace, panZeroPadded } = detail;
    if (cardOrganization.length !== 2 || !isDigits(cardOrganization)) {
      throw layoutError(`detail ${i}: card organization is n2`);
    }
    if (trace.length !== 6 || !isDigits(trace)) throw layoutError(`detail ${i}: trace is n6`);
    if (panZeroPadded.length > 20 || !isDigits(panZeroPadded)) throw layoutError(`detail ${i}: PAN is n..20`);
    text +=
      cardOrganization +
      trace +
      panZeroPadded.padEnd(20, '0') +
      digits(detail.amountMinor, 12, `detail ${i} amount`);
  });
  return text;
}

export function decodeBatchUploadDetails(field48: string): BatchUploadDetail[] {
  const count = Number(field48.slice(0, 2));
  if (
    !isDigits(field48) ||
    field48.length < 2 ||
    count < 1 ||
    count > BATCH_UPLOAD_MAX_DETAILS ||
    field48.length !== 2 + count * BATCH_UPLOAD_DETAIL_DIGITS
  ) {
    throw layoutError(
      `not count n2 + 1 to ${BATCH_UPLOAD_MAX_DETAILS} details of ${BATCH_UPLOAD_DETAIL_DIGITS} digits`,
    );
  }
  const details: BatchUploadDetail[] = [];
  for (let i = 0; i < count; i++) {
    const at = 2 + i * BATCH_UPLOAD_DETAIL_DIGITS;
    details.push({
      cardOrganization: field48.slice(at, at + 2),
      trace: field48.slice(at + 2, at + 8),
      panZeroPadded: field48.slice(at + 8, at + 28),
      amountMinor: BigInt(field48.slice(at + 28, at + 40)),
    });
  }
  return details;
}

/** The batch end (0320 `202`): the total count of details uploaded, n4. */
export function encodeBatchEnd(totalCount: number): string {
  return digits(totalCount, BATCH_END_DIGITS, 'total count');
}

export function decodeBatchEnd(field48: string): number {
  if (field48.length !== BATCH_END_DIGITS || !isDigits(field48)) {
    throw layoutError(`the batch end is ${BATCH_END_DIGITS} digits, got ${field48.length} characters`);
  }
  return Number(field48);
}
