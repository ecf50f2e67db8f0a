import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameError,
  FrameReader,
  Header,
  PROCESSING_SIGN_IN_AGAIN,
  parsePosFrame,
  Tpdu,
  tillpointPosV1,
  unpack,
  writeFrame,
  writePosFrame,
} from './index.ts';

const SALE_FRAME = Buffer.from(
  '007D60000300006031000000000200702404C020C09811166222021000000013000000000000001234000002301202100012346222021000000013D301220100000000003130303030303031313032333134303534313130303031313536503EFE85F255C14A26000000000000000013220000010005003231343331373441',
  'hex',
);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

function collect(reader: FrameReader, ...chunks: Uint8Array[]): string[] {
  const frames: string[] = [];
  for (const chunk of chunks) reader.push(chunk, (frame) => frames.push(hex(frame)));
  return frames;
}

describe('FrameReader', () => {
  const body = hex(SALE_FRAME.subarray(2));

  it('reads a frame delivered whole', () => {
    assert.deepEqual(collect(new FrameReader(), SALE_FRAME), [body]);
  });

  it('reads a frame delivered one byte at a time', () => {
    const reader = new FrameReader();
    const chunks = Array.from(SALE_FRAME, (b) => Uint8Array.of(b));
    assert.deepEqual(collect(reader, ...chunks), [body]);
    assert.equal(reader.bufferedBytes, 0);
  });

  it('reads several frames from one chunk, and one split across chunks', () => {
    const three = Buffer.concat([SALE_FRAME, SALE_FRAME, SALE_FRAME]);
    const reader = new FrameReader();
    assert.deepEqual(collect(reader, three.subarray(0, 200), three.subarray(200, 201), three.subarray(201)), [
      body,
      body,
      body,
    ]);
  });

  it('gives copies: reusing the chunk does not change a frame', () => {
    const chunk = Buffer.from(SALE_FRAME);
    const frames: Uint8Array[] = [];
    new FrameReader().push(chunk, (frame) => frames.push(frame));
    chunk.fill(0);
    assert.equal(hex(frames[0]!), body);
  });

  it('refuses a zero length, then refuses every later push', () => {
    const reader = new FrameReader();
    const frames: string[] = [];
    assert.throws(
      () => reader.push(Buffer.concat([SALE_FRAME, Buffer.from('0000', 'hex')]), (f) => frames.push(hex(f))),
      (error: unknown) =>
        error instanceof FrameError && error.reason === 'frame_length_zero' && error.offset === 127,
    );
    assert.deepEqual(frames, [body], 'the frame before the lie is delivered');
    assert.throws(() => reader.push(SALE_FRAME, () => {}), {
      name: 'FrameError',
      reason: 'frame_length_zero',
    });
  });

  it('refuses a length above the maximum as soon as the two length bytes are in', () => {
    const reader = new FrameReader();
    assert.throws(() => collect(reader, Uint8Array.of(0x08), Uint8Array.of(0x01)), {
      name: 'FrameError',
      reason: 'frame_too_long',
    });
    assert.throws(() => collect(new FrameReader({ maxFrameBytes: 100 }), SALE_FRAME), {
      reason: 'frame_too_long',
    });
    assert.deepEqual(collect(new FrameReader({ maxFrameBytes: 125 }), SALE_FRAME), [body]);
  });

  it('never holds more than one frame of the maximum size', () => {
    const reader = new FrameReader();
    const header = Uint8Array.of(0x08, 0x00); // 2048: the largest allowed
    reader.push(header, () => {});
    for (let i = 0; i < 2047; i++) reader.push(Uint8Array.of(0x41), () => {});
    assert.equal(reader.bufferedBytes, 2049);
    const frames = collect(reader, Uint8Array.of(0x41, 0x00));
    assert.equal(frames.length, 1);
    assert.equal(reader.bufferedBytes, 1);
  });

  it('writeFrame prepends the big-endian length', () => {
    assert.equal(hex(writeFrame(SALE_FRAME.subarray(2))), hex(SALE_FRAME));
  });
});

describe('TPDU and header', () => {
  it('parse and serialize the worked example, and answer with addresses swapped', () => {
    const frame = parsePosFrame(SALE_FRAME.subarray(2));
    assert.deepEqual(frame.tpdu, { destination: 3, source: 0 });
    assert.equal(Tpdu.toHex(Tpdu.reply(frame.tpdu)), '6000000003');
    assert.deepEqual(frame.header, {
      applicationType: 0x60,
      version: 0x31,
      terminalStatus: 0,
      processingRequirement: 0,
      subVersion: '000000',
    });
    const reply = Header.reply(frame.header, PROCESSING_SIGN_IN_AGAIN);
    assert.equal(hex(Header.serialize(reply)), '603103000000');
    assert.equal(
      hex(Header.serialize({ ...reply, terminalStatus: 1, subVersion: '123456' })),
      '603113123456',
    );
  });

  it('a frame writes back byte for byte', () => {
    const frame = parsePosFrame(SALE_FRAME.subarray(2));
    const message = unpack(tillpointPosV1, frame.message);
    assert.equal(hex(writePosFrame(frame.tpdu, frame.header, message)), hex(SALE_FRAME));
  });

  it('refuses a TPDU that does not start with 60, a bad header, a frame too short', () => {
    const body = Buffer.from(SALE_FRAME.subarray(2));
    body[0] = 0x61;
    assert.throws(() => parsePosFrame(body), { name: 'FrameError', reason: 'bad_tpdu' });
    const badHeader = Buffer.from(SALE_FRAME.subarray(2));
    badHeader[10] = 0x0a;
    assert.throws(() => parsePosFrame(badHeader), { name: 'FrameError', reason: 'bad_header', offset: 10 });
    assert.throws(() => parsePosFrame(SALE_FRAME.subarray(2, 14)), {
      name: 'FrameError',
      reason: 'frame_too_short',
    });
  });
});
