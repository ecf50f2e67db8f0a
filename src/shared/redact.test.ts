import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { createLogger } from './logger.ts';
import { maskPan, maskPansInText, passesLuhn, redact } from './redact.ts';
import { Secret } from './secret.ts';

describe('redaction', () => {
  it('masks card numbers that pass Luhn, and leaves other digit runs', () => {
    assert.equal(passesLuhn('6222021000000013'), true);
    assert.equal(maskPan('6222021000000013'), '622202******0013');
    assert.equal(
      maskPansInText('card 6222021000000013 trace 0000000000000001 amount 1234'),
      'card 622202******0013 trace 0000000000000001 amount 1234',
    );
    // 19 digits, Luhn-valid
    assert.equal(maskPansInText('x6250001000000010y'), 'x625000******0010y');
  });

  it('drops fields named like track data, PINs, CVVs and keys at any depth', () => {
    const out = redact({
      pan: '6222021000000013',
      track2: '6222021000000013=30122010000000000',
      nested: { pinBlock: 'abc', cvv: '123', keyMaterial: 'k', list: [{ tmk: 'x', keep: 'y' }] },
      key: 'secret',
      amountMinor: 1234n,
    });
    assert.deepEqual(out, {
      pan: '622202******0013',
      nested: { list: [{ keep: 'y' }] },
      amountMinor: '1234',
    });
  });

  it('keeps secrets out of JSON, strings and inspection', () => {
    const secret = new Secret('0123456789ABCDEF');
    assert.equal(JSON.stringify({ secret }), '{"secret":"***"}');
    assert.equal(`${secret}`, '***');
    assert.doesNotMatch(inspect(secret), /0123/);
    assert.equal(secret.expose(), '0123456789ABCDEF');
  });

  it('applies to every log line, message and fields', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'info', format: 'json', destination: sink });
    logger.info(
      { track2: '6222021000000013=3012', card: { pan: '6222021000000013' } },
      'sale with 6222021000000013',
    );
    const line = JSON.parse(lines[0]!);
    assert.equal(line.msg, 'sale with 622202******0013');
    assert.equal(line.track2, undefined);
    assert.equal(line.card.pan, '622202******0013');
    assert.doesNotMatch(lines[0]!, /6222021000000013/);
  });
});
