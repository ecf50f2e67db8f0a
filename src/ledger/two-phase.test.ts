import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.ts';
import type { EntryInput, Ledger } from './index.ts';
import { key, rejects, sale, useTestLedger } from './testing.ts';

let ledger: Ledger;
const clock = new ManualClock('2026-11-26T02:00:00Z');

useTestLedger(clock, (test) => {
  ledger = test.ledger;
});

describe('two-phase entries', () => {
  async function loadWallet(amountMinor: bigint): Promise<void> {
    await ledger.post({
      idempotencyKey: key(),
      description: 'load',
      postings: [
        { account: 'bank', side: 'debit', amountMinor },
        { account: 'wallet:w1', side: 'credit', amountMinor },
      ],
    });
  }
  function hold(amountMinor: bigint, expiresAt?: Date): EntryInput {
    return {
      idempotencyKey: key(),
      description: 'pre-authorization',
      reference: { type: 'payment', id: key() },
      postings: [
        { account: 'wallet:w1', side: 'debit', amountMinor },
        { account: 'merchant:m1:pending', side: 'credit', amountMinor },
      ],
      pending: expiresAt === undefined ? {} : { expiresAt },
    };
  }

  it('reserves without posting, and the reservation counts against what is available', async () => {
    await loadWallet(1000n);
    const before = await ledger.balance('wallet:w1');
    const { entry } = await ledger.post(hold(300n));
    assert.equal(entry.kind, 'pending');
    const after = await ledger.balance('wallet:w1');
    assert.equal(after.postedMinor, before.postedMinor);
    assert.equal(after.debitsPendingMinor - before.debitsPendingMinor, 300n);
    assert.equal(after.availableMinor, before.availableMinor - 300n);
    // More than is available cannot be reserved on an account that may not go negative.
    await rejects(ledger.post(hold(after.availableMinor + 1n)), 'TILLPOINT_ERR_INSUFFICIENT_BALANCE');
    await ledger.voidPending({ idempotencyKey: key(), pendingEntryId: entry.id });
  });

  it('posts in part and releases the rest', async () => {
    await loadWallet(500n);
    const before = await ledger.balance('wallet:w1');
    const { entry } = await ledger.post(hold(500n));
    const posted = await ledger.postPending({
      idempotencyKey: key(),
      pendingEntryId: entry.id,
      postings: [
        { account: 'wallet:w1', side: 'debit', amountMinor: 320n },
        { account: 'merchant:m1:pending', side: 'credit', amountMinor: 320n },
      ],
    });
    assert.equal(posted.entry.kind, 'post_pending');
    assert.equal(posted.entry.pendingEntryId, entry.id);
    const after = await ledger.balance('wallet:w1');
    assert.equal(after.debitsPendingMinor, before.debitsPendingMinor);
    assert.equal(after.postedMinor, before.postedMinor - 320n);
  });

  it('posts in full up to an account that may not go negative, exactly at its limit', async () => {
    const available = (await ledger.balance('wallet:w1')).availableMinor;
    await loadWallet(250n);
    const { entry } = await ledger.post(hold(available + 250n));
    await ledger.postPending({ idempotencyKey: key(), pendingEntryId: entry.id });
    const after = await ledger.balance('wallet:w1');
    assert.equal(after.availableMinor, 0n);
    assert.equal(after.postedMinor, 0n);
  });

  it('refuses to post more than was reserved', async () => {
    await loadWallet(100n);
    const { entry } = await ledger.post(hold(100n));
    await rejects(
      ledger.postPending({
        idempotencyKey: key(),
        pendingEntryId: entry.id,
        postings: [
          { account: 'wallet:w1', side: 'debit', amountMinor: 101n },
          { account: 'merchant:m1:pending', side: 'credit', amountMinor: 101n },
        ],
      }),
      'TILLPOINT_ERR_PENDING_EXCEEDED',
    );
    await ledger.voidPending({ idempotencyKey: key(), pendingEntryId: entry.id });
  });

  it('resolves a pending entry once: post, void and expire after that are refused; a repeat is a replay', async () => {
    await loadWallet(100n);
    const { entry } = await ledger.post(hold(100n));
    const voidKey = key();
    const voided = await ledger.voidPending({ idempotencyKey: voidKey, pendingEntryId: entry.id });
    assert.equal(voided.entry.kind, 'void_pending');
    const replay = await ledger.voidPending({ idempotencyKey: voidKey, pendingEntryId: entry.id });
    assert.equal(replay.created, false);
    assert.equal(replay.entry.id, voided.entry.id);
    await rejects(
      ledger.postPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
      'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED',
    );
    await rejects(
      ledger.postPending({ idempotencyKey: voidKey, pendingEntryId: entry.id }),
      'TILLPOINT_ERR_ENTRY_CONFLICT',
    );
  });

  it('resolves concurrent post and void of one pending entry exactly once', async () => {
    await loadWallet(100n);
    const { entry } = await ledger.post(hold(100n));
    const results = await Promise.allSettled([
      ledger.postPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
      ledger.voidPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
      ledger.postPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal(r.reason.code, 'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED');
    }
  });

  it('expires a pending entry whose time has passed, releasing it', async () => {
    await loadWallet(100n);
    const before = await ledger.balance('wallet:w1');
    const { entry } = await ledger.post(hold(100n, new Date(clock.now().getTime() + 60_000)));
    assert.equal(await ledger.expirePending(), 0);
    clock.advance(61_000);
    assert.equal(await ledger.expirePending(), 1);
    assert.equal(await ledger.expirePending(), 0);
    const after = await ledger.balance('wallet:w1');
    assert.equal(after.debitsPendingMinor, before.debitsPendingMinor);
    await rejects(
      ledger.postPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
      'TILLPOINT_ERR_PENDING_ALREADY_RESOLVED',
    );
  });

  it('refuses to resolve what is not pending', async () => {
    const { entry } = await ledger.post(sale(5n));
    await rejects(
      ledger.voidPending({ idempotencyKey: key(), pendingEntryId: entry.id }),
      'TILLPOINT_ERR_PENDING_NOT_FOUND',
    );
    await rejects(
      ledger.voidPending({ idempotencyKey: key(), pendingEntryId: '0190b2c4-0000-7000-8000-000000000000' }),
      'TILLPOINT_ERR_PENDING_NOT_FOUND',
    );
  });
});
