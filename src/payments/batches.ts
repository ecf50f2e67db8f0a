import { transaction } from '../db/index.ts';
import type { Merchant } from '../merchants/index.ts';
import { newId } from '../shared/ids.ts';
import type { Terminal } from '../terminals/index.ts';
import type { PaymentRecordRow, PaymentsCore } from './core.ts';
import { cardOrganization, isDomestic } from './outcomes.ts';
import type { BatchTotals, Outcome, UploadDetail } from './types.ts';

// End of day at the terminal: batch settlement (0500) compares the terminal's totals with the host's
// own; equal closes the batch, different asks for the batch upload (0320), whose end reconciles the
// uploaded lines with the host's payments, records every difference as an exception for the
// settlement module, and closes the batch either way. A closed batch takes no more voids.

export const ZERO_TOTALS: BatchTotals = {
  debitAmountMinor: 0n,
  debitCount: 0,
  creditAmountMinor: 0n,
  creditCount: 0,
  foreignDebitAmountMinor: 0n,
  foreignDebitCount: 0,
  foreignCreditAmountMinor: 0n,
  foreignCreditCount: 0,
};

export function totalsEqual(a: BatchTotals, b: BatchTotals): boolean {
  return (
    a.debitAmountMinor === b.debitAmountMinor &&
    a.debitCount === b.debitCount &&
    a.creditAmountMinor === b.creditAmountMinor &&
    a.creditCount === b.creditCount &&
    a.foreignDebitAmountMinor === b.foreignDebitAmountMinor &&
    a.foreignDebitCount === b.foreignDebitCount &&
    a.foreignCreditAmountMinor === b.foreignCreditAmountMinor &&
    a.foreignCreditCount === b.foreignCreditCount
  );
}

function totalsJson(totals: BatchTotals): Record<string, string | number> {
  return Object.fromEntries(
    Object.entries(totals).map(([key, value]) => [key, typeof value === 'bigint' ? value.toString() : value]),
  );
}

/** The payments of a batch that count in its totals: approved sales and completions (debits), refunds (credits). */
async function countingPayments(
  core: PaymentsCore,
  terminalId: string,
  batchNo: number,
): Promise<PaymentRecordRow[]> {
  const result = await core.deps.db.query<PaymentRecordRow>(
    `SELECT * FROM card_payments
      WHERE terminal_id = $1 AND batch_no = $2 AND status = 'approved' AND kind IN ('sale', 'completion', 'refund')
      ORDER BY trace`,
    [terminalId, batchNo],
  );
  return result.rows;
}

/** The host's totals of a batch, as terminal-protocol.md defines them. */
export async function hostTotals(
  core: PaymentsCore,
  terminalId: string,
  batchNo: number,
): Promise<BatchTotals> {
  const totals = { ...ZERO_TOTALS };
  for (const payment of await countingPayments(core, terminalId, batchNo)) {
    const domestic = isDomestic(payment.card_organization);
    if (payment.kind === 'refund') {
      if (domestic) {
        totals.creditAmountMinor += payment.amount_minor;
        totals.creditCount++;
      } else {
        totals.foreignCreditAmountMinor += payment.amount_minor;
        totals.foreignCreditCount++;
      }
    } else if (domestic) {
      totals.debitAmountMinor += payment.amount_minor;
      totals.debitCount++;
    } else {
      totals.foreignDebitAmountMinor += payment.amount_minor;
      totals.foreignDebitCount++;
    }
  }
  return totals;
}

export interface SettleRequest {
  terminal: Terminal;
  merchant: Merchant;
  batchNo: number;
  terminalTotals: BatchTotals;
  operatorCode?: string;
  source: string;
}

export interface SettleResult {
  outcome: Outcome;
  /** 1 balanced (the batch is closed), 2 unbalanced (upload the batch), 3 error. */
  result: 1 | 2 | 3;
  hostTotals: BatchTotals;
}

export async function settle(core: PaymentsCore, request: SettleRequest): Promise<SettleResult> {
  const terminals = core.deps.terminals;
  const status = await terminals.batchStatus(request.terminal.id, request.batchNo);
  const totals = await hostTotals(core, request.terminal.id, request.batchNo);
  if (status === undefined) return { outcome: 'sign_in_required', result: 3, hostTotals: totals };
  const balanced = totalsEqual(totals, request.terminalTotals);
  if (status === 'closed') {
    // A retransmitted settlement of the batch just closed: the same answer.
    return { outcome: 'approved', result: balanced ? 1 : 2, hostTotals: totals };
  }
  const actor = { type: 'terminal' as const, id: request.terminal.id };
  await transaction(core.deps.db, async (tx) => {
    if (balanced) {
      await terminals.closeBatch(tx, {
        terminalId: request.terminal.id,
        batchNo: request.batchNo,
        settlement: 'balanced',
        hostTotals: totalsJson(totals),
        terminalTotals: totalsJson(request.terminalTotals),
      });
    } else {
      await terminals.markUploading(tx, request.terminal.id, request.batchNo, {
        host: totalsJson(totals),
        terminal: totalsJson(request.terminalTotals),
      });
    }
    await core.deps.audit.record(tx, {
      actor,
      source: request.source,
      event: 'payments.batch.settled',
      object: { type: 'terminal_batch', id: `${request.terminal.id}:${request.batchNo}` },
      details: {
        result: balanced ? 'balanced' : 'unbalanced',
        host: totalsJson(totals),
        terminal: totalsJson(request.terminalTotals),
        operator: request.operatorCode ?? null,
      },
    });
  });
  terminals.invalidate(request.terminal.id);
  return { outcome: 'approved', result: balanced ? 1 : 2, hostTotals: totals };
}

/** Stores uploaded details (0320 201) of a batch waiting for its upload. */
export async function uploadDetails(
  core: PaymentsCore,
  request: { terminal: Terminal; batchNo: number; details: readonly UploadDetail[] },
): Promise<Outcome> {
  const status = await core.deps.terminals.batchStatus(request.terminal.id, request.batchNo);
  if (status !== 'uploading') return 'invalid_transaction';
  const rows = request.details.map((detail) => {
    const { panHash, panMasked } = core.deps.cardData.protectPan(detail.pan);
    return {
      trace: detail.trace,
      org: detail.cardOrganization === '' ? cardOrganization(detail.pan.expose()) : detail.cardOrganization,
      panHash,
      panMasked,
      amount: detail.amountMinor.toString(),
    };
  });
  await core.deps.db.query(
    `INSERT INTO batch_upload_lines (terminal_id, batch_no, trace, card_organization, pan_hash, pan_masked, amount_minor)
     SELECT $1, $2, u.trace, u.org, u.pan_hash, u.pan_masked, u.amount
       FROM unnest($3::bpchar[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS u(trace, org, pan_hash, pan_masked, amount)
     ON CONFLICT (terminal_id, batch_no, trace) DO UPDATE
        SET card_organization = EXCLUDED.card_organization, pan_hash = EXCLUDED.pan_hash,
            pan_masked = EXCLUDED.pan_masked, amount_minor = EXCLUDED.amount_minor, uploaded_at = now()`,
    [
      request.terminal.id,
      request.batchNo,
      rows.map((r) => r.trace),
      rows.map((r) => r.org),
      rows.map((r) => r.panHash),
      rows.map((r) => r.panMasked),
      rows.map((r) => r.amount),
    ],
  );
  return 'approved';
}

export interface UploadEndResult {
  outcome: Outcome;
  exceptions: number;
}

/**
 * The end of a batch upload (0320 202): reconciles the uploaded lines with the host's payments line
 * by line — host only, terminal only, amounts that differ — records each difference as an
 * exception, and closes the batch.
 */
export async function uploadEnd(
  core: PaymentsCore,
  request: { terminal: Terminal; merchant: Merchant; batchNo: number; source: string },
): Promise<UploadEndResult> {
  const terminals = core.deps.terminals;
  const status = await terminals.batchStatus(request.terminal.id, request.batchNo);
  if (status === 'closed') return { outcome: 'approved', exceptions: 0 }; // a retransmitted end
  if (status !== 'uploading') return { outcome: 'invalid_transaction', exceptions: 0 };
  // The upload carries the debits (sales and completions in force): its detail layout has no type,
  // and refunds, taken online as 0220 advices, are not uploaded.
  const host = new Map(
    (await countingPayments(core, request.terminal.id, request.batchNo))
      .filter((p) => p.kind !== 'refund')
      .map((p) => [p.trace, p]),
  );
  const uploaded = await core.deps.db.query<{ trace: string; amount_minor: bigint }>(
    'SELECT trace, amount_minor FROM batch_upload_lines WHERE terminal_id = $1 AND batch_no = $2',
    [request.terminal.id, request.batchNo],
  );
  const exceptions: Array<{
    trace: string;
    kind: 'host_only' | 'terminal_only' | 'amount_mismatch';
    hostAmount: bigint | null;
    terminalAmount: bigint | null;
    paymentId: string | null;
  }> = [];
  const seen = new Set<string>();
  for (const line of uploaded.rows) {
    seen.add(line.trace);
    const payment = host.get(line.trace);
    if (payment === undefined) {
      exceptions.push({
        trace: line.trace,
        kind: 'terminal_only',
        hostAmount: null,
        terminalAmount: line.amount_minor,
        paymentId: null,
      });
    } else if (payment.amount_minor !== line.amount_minor) {
      exceptions.push({
        trace: line.trace,
        kind: 'amount_mismatch',
        hostAmount: payment.amount_minor,
        terminalAmount: line.amount_minor,
        paymentId: payment.id,
      });
    }
  }
  for (const [trace, payment] of host) {
    if (!seen.has(trace)) {
      exceptions.push({
        trace,
        kind: 'host_only',
        hostAmount: payment.amount_minor,
        terminalAmount: null,
        paymentId: payment.id,
      });
    }
  }
  const totals = await hostTotals(core, request.terminal.id, request.batchNo);
  await transaction(core.deps.db, async (tx) => {
    for (const exception of exceptions) {
      await tx.query(
        `INSERT INTO batch_exceptions (id, terminal_id, merchant_id, batch_no, trace, kind, host_amount_minor,
                                       terminal_amount_minor, payment_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [
          newId(),
          request.terminal.id,
          request.merchant.id,
          request.batchNo,
          exception.trace,
          exception.kind,
          exception.hostAmount,
          exception.terminalAmount,
          exception.paymentId,
        ],
      );
    }
    await terminals.closeBatch(tx, {
      terminalId: request.terminal.id,
      batchNo: request.batchNo,
      settlement: 'unbalanced',
      hostTotals: totalsJson(totals),
      terminalTotals: null,
    });
    await core.deps.audit.record(tx, {
      actor: { type: 'terminal', id: request.terminal.id },
      source: request.source,
      event: 'payments.batch.reconciled',
      object: { type: 'terminal_batch', id: `${request.terminal.id}:${request.batchNo}` },
      outcome: exceptions.length === 0 ? 'success' : 'failure',
      details: { uploaded: uploaded.rows.length, exceptions: exceptions.length },
    });
  });
  terminals.invalidate(request.terminal.id);
  return { outcome: 'approved', exceptions: exceptions.length };
}

/** Releases the holds of pre-authorizations whose time has passed; returns how many. */
export async function expireHolds(core: PaymentsCore, limit = 100): Promise<number> {
  const due = await core.deps.db.query<{ id: string }>(
    `SELECT id FROM card_payments WHERE kind = 'preauth' AND status = 'approved' AND hold_expires_at <= $1
      ORDER BY hold_expires_at LIMIT $2`,
    [core.deps.clock.now(), limit],
  );
  let expired = 0;
  for (const { id } of due.rows) {
    await transaction(core.deps.db, async (tx) => {
      const locked = await core.findById(tx, id, true);
      if (locked?.status !== 'approved' || locked.ledger_entry_id === null) return;
      await tx.query("UPDATE card_payments SET status = 'expired', updated_at = now() WHERE id = $1", [id]);
      await core.deps.ledger.voidPending(
        {
          idempotencyKey: `card:${id}:expire`,
          pendingEntryId: locked.ledger_entry_id,
          description: 'Pre-authorization hold expired',
        },
        { tx },
      );
      expired++;
    });
  }
  return expired;
}
