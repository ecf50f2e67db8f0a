import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkOperation, NetworkRequest } from '../../payments/index.ts';
import { dumpMessage, iso87Ascii, type Message, pack, unpack } from '../../protocols/iso8583/index.ts';
import { isTillpointError } from '../../shared/errors.ts';
import { Secret } from '../../shared/secret.ts';
import {
  decodeReply,
  decodeRequest,
  decodeReversal,
  decodeReversalReply,
  encodeReply,
  encodeRequest,
  encodeReversal,
  encodeReversalReply,
  OPERATION_MESSAGES,
  operationOf,
  parseTransmissionDateTime,
  transmissionDateTime,
} from './iso87-mapping.ts';
import { originalOf, testRequest, testZpk } from './testing.ts';

const zpk = testZpk();
const PAN = '6222021000000013';
const at = new Date('2026-11-26T02:03:04Z');

function roundTrip(message: Message<typeof iso87Ascii>): Message<typeof iso87Ascii> {
  return unpack(iso87Ascii, pack(message));
}

function request(operation: NetworkOperation): NetworkRequest {
  const sale = testRequest(PAN, 'sale', { transmittedAt: at });
  const needsOriginal = operation !== 'sale' && operation !== 'balance' && operation !== 'preauth';
  return testRequest(PAN, operation, {
    zpk,
    pin: operation === 'sale' || operation === 'balance' || operation === 'preauth' ? '123456' : undefined,
    expiry: '3012',
    transmittedAt: at,
    ...(needsOriginal ? { original: originalOf(sale, 'A1B2C3') } : {}),
  });
}

describe('operation → MTI, processing code, condition code', () => {
  const table: Array<[NetworkOperation, string, string, string]> = [
    ['balance', '0200', '310000', '00'],
    ['sale', '0200', '000000', '00'],
    ['void', '0200', '200000', '00'],
    ['refund', '0220', '200000', '00'],
    ['preauth', '0100', '030000', '06'],
    ['preauth_void', '0100', '200000', '06'],
    ['completion', '0200', '000000', '06'],
    ['completion_void', '0200', '200000', '06'],
  ];
  for (const [operation, mti, processingCode, conditionCode] of table) {
    it(`${operation}: ${mti} ${processingCode} 25=${conditionCode}, and back (also as a repeat)`, () => {
      assert.deepEqual(OPERATION_MESSAGES[operation], { mti, processingCode, conditionCode });
      assert.equal(operationOf(mti, processingCode, conditionCode), operation);
      assert.equal(operationOf(`${mti.slice(0, 3)}1`, processingCode, conditionCode), operation);
    });
  }
  it('anything else is no operation', () => {
    assert.equal(operationOf('0200', '310000', '06'), undefined);
    assert.equal(operationOf('0400', '000000', '00'), undefined);
  });
});

describe('requests', () => {
  for (const operation of Object.keys(OPERATION_MESSAGES) as NetworkOperation[]) {
    it(`${operation} survives encode → pack → unpack → decode`, () => {
      const original = request(operation);
      const message = roundTrip(encodeRequest(original));
      assert.equal(message.mti, OPERATION_MESSAGES[operation].mti);
      const decoded = decodeRequest(message, at);
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.detail);
      const back = decoded.request;
      assert.equal(back.operation, operation);
      assert.equal(back.card.pan.expose(), PAN);
      assert.equal(back.card.expiry, '3012');
      assert.equal(back.amountMinor, original.amountMinor);
      assert.equal(back.stan, original.stan);
      assert.equal(back.rrn, original.rrn);
      assert.equal(back.terminalId, original.terminalId);
      assert.equal(back.merchantId, original.merchantId);
      assert.equal(back.merchantName, original.merchantName);
      assert.equal(back.acquirerCode, original.acquirerCode);
      assert.equal(back.transmittedAt.getTime(), at.getTime());
      assert.deepEqual(back.pinBlockUnderZpk?.expose(), original.pinBlockUnderZpk?.expose());
      if (original.original === undefined) assert.equal(back.original, undefined);
      else {
        assert.equal(back.original?.rrn, original.original.rrn);
        assert.equal(back.original?.stan, original.original.stan);
        assert.equal(back.original?.authCode, 'A1B2C3');
      }
    });
  }

  it('a masked dump shows no PAN and no PIN block', () => {
    const dump = JSON.stringify(dumpMessage(encodeRequest(request('sale'))));
    assert.ok(!dump.includes(PAN));
    assert.ok(dump.includes('622202******0013'));
    assert.ok(dump.includes('hidden'));
  });

  it('refuses what the link cannot carry: an SM4-sized PIN block, an RRN of another length', () => {
    const sale = request('sale');
    assert.throws(
      () => encodeRequest({ ...sale, pinBlockUnderZpk: new Secret(Buffer.alloc(16)) }),
      (error) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
    assert.throws(
      () => encodeRequest({ ...sale, rrn: '123' }),
      (error) => isTillpointError(error, 'TILLPOINT_ERR_VALIDATION'),
    );
  });

  it('a name that is not printable ASCII is left out of field 43', () => {
    const message = encodeRequest({ ...request('sale'), merchantName: '镇江万家福超市' });
    assert.equal(message.get(43), undefined);
  });

  it('a request without a card number or with an unknown processing code does not decode', () => {
    const message = roundTrip(encodeRequest(request('sale')));
    message.delete(2);
    assert.equal(decodeRequest(message, at).ok, false);
    const other = roundTrip(encodeRequest(request('sale'))).set(3, '990000');
    assert.equal(decodeRequest(other, at).ok, false);
  });
});

describe('field 7', () => {
  it('MMDDhhmmss in UTC, read back to the year nearest to now', () => {
    assert.equal(transmissionDateTime(at), '1126020304');
    assert.equal(parseTransmissionDateTime('1126020304', at)?.toISOString(), at.toISOString());
    // Sent on 31 December, read on 1 January: last year.
    assert.equal(
      parseTransmissionDateTime('1231235959', new Date('2027-01-01T00:00:05Z'))?.toISOString(),
      '2026-12-31T23:59:59.000Z',
    );
    assert.equal(parseTransmissionDateTime('1332000000', at), undefined);
  });
});

describe('replies', () => {
  it('an approval carries 38, 44, 54, 63 and reads back', () => {
    const message = encodeRequest(request('balance'));
    const reply = roundTrip(
      encodeReply(message, {
        status: 'approved',
        authCode: '123456',
        balanceMinor: 4_998_766n,
        issuerCode: '01020000',
        cardOrganization: 'CUP',
      }),
    );
    assert.equal(reply.mti, '0210');
    assert.equal(reply.get(54), '0002156C000004998766');
    assert.deepEqual(decodeReply(reply, message), {
      status: 'approved',
      authCode: '123456',
      balanceMinor: 4_998_766n,
      issuerCode: '01020000',
      cardOrganization: 'CUP',
    });
  });

  it('a decline reads back with its reason', () => {
    const message = encodeRequest(request('sale'));
    const reply = roundTrip(encodeReply(message, { status: 'declined', responseCode: '51', reason: 'x' }));
    assert.deepEqual(decodeReply(reply, message), {
      status: 'declined',
      responseCode: '51',
      reason: 'insufficient_funds',
    });
  });

  const malformed: Array<[string, (reply: Message<typeof iso87Ascii>) => void]> = [
    [
      'another MTI',
      (reply) => {
        reply.mti = '0230';
      },
    ],
    ['no response code', (reply) => void reply.delete(39)],
    ['a response code that is not two letters or digits', (reply) => void reply.set(39, '0')],
    ['another amount', (reply) => void reply.set(4, '000000000001')],
    ['a balance that cannot be read', (reply) => void reply.set(54, '0002156X00000000')],
  ];
  for (const [name, spoil] of malformed) {
    it(`a reply with ${name} is malformed_reply`, () => {
      const message = encodeRequest(request('balance'));
      const reply = encodeReply(message, { status: 'approved', authCode: '123456', balanceMinor: 1n });
      spoil(reply);
      const outcome = decodeReply(reply, message);
      assert.equal(outcome.status === 'unknown' && outcome.cause, 'malformed_reply');
    });
  }
});

describe('reversals', () => {
  it('0420 first, 0421 for repeats; the reversed message comes back with its reason', () => {
    const original = request('completion');
    const first = roundTrip(encodeReversal({ original, reason: 'timeout', attempt: 1 }));
    const repeat = roundTrip(encodeReversal({ original, reason: 'host_failure', attempt: 3 }));
    assert.equal(first.mti, '0420');
    assert.equal(repeat.mti, '0421');
    assert.equal(first.get(39), '68');
    assert.equal(first.get(52), undefined, 'no PIN block in a reversal');
    assert.equal(first.get(90)?.slice(0, 10), `0200${original.stan}`);
    const decoded = decodeReversal(repeat, at);
    assert.ok(decoded.ok);
    assert.equal(decoded.reversal.attempt, 2);
    assert.equal(decoded.reversal.reason, 'host_failure');
    assert.equal(decoded.reversal.original.operation, 'completion');
    assert.equal(decoded.reversal.original.stan, original.stan);
    assert.equal(decoded.reversal.original.rrn, original.rrn);
  });

  it('0430 with 00 or 25 is acknowledged; anything else is not', () => {
    const message = encodeReversal({ original: request('sale'), reason: 'timeout', attempt: 1 });
    for (const [code, status] of [
      ['00', 'acknowledged'],
      ['25', 'acknowledged'],
      ['96', 'unknown'],
    ] as const) {
      const reply = roundTrip(encodeReversalReply(message, code));
      assert.equal(reply.mti, '0430');
      assert.equal(decodeReversalReply(reply, message).status, status);
    }
  });
});
