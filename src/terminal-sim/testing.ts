// A small fake host for tests and for measuring the terminal's own cost: a net.Server that speaks
// the profile well enough for a terminal to sign in, transact, reverse and settle. It approves
// everything unless a test's `respond` hook says otherwise, MACs its replies with the terminal's
// working MAC key, and records every request it receives. It is not the host: no rules, no ledger.

import { createCipheriv, randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  FrameReader,
  type Header,
  Message,
  parsePosFrame,
  responseMti,
  type Tpdu,
  tillpointPosV1,
  unpack,
  writePosFrame,
} from '../protocols/iso8583/index.ts';
import { generateMac, importClearKey, MAC_BYTES, type WorkingKeys } from './keys.ts';
import { type PosMessage, specFor } from './messages.ts';
import { encodeParameters } from './params.ts';
import { DEMO_TERMINALS, DEMO_TMK_HEX, UNMACED_RESPONSE_CODES } from './protocol.ts';
import type { Parameter, TerminalAlgorithm } from './state.ts';

export interface FakeTerminal {
  readonly algorithm: TerminalAlgorithm;
  readonly tmkHex?: string;
}

/** What a test's hook may do with a request. */
export type FakeAction =
  | { readonly kind: 'drop' } // never answer
  | {
      readonly kind: 'reply';
      /** Field 39 (default 00). */
      readonly code?: string;
      /** Header processing requirement of the reply (3: sign in again). */
      readonly processingRequirement?: number;
      /** Flip a bit of the MAC. */
      readonly badMac?: boolean;
      /** Change the reply before it is MAC'd. */
      readonly edit?: (reply: PosMessage) => void;
    };

export interface FakeRequest {
  readonly mti: string;
  readonly terminalId: string;
  readonly message: PosMessage;
  readonly fields: Readonly<Record<string, string>>;
  /** The frame as received (length removed). */
  readonly frame: Uint8Array;
}

export interface FakeHostOptions {
  /** Terminals it knows (default: the demo terminals, and any other id as a 3DES terminal with the demo TMK). */
  readonly terminals?: Readonly<Record<string, FakeTerminal>>;
  /** Fixed clear working keys (hex) instead of random ones: PIN key 32 hex, MAC key 16 (3DES) or 32 (SM4). */
  readonly workingKeys?: { readonly pinHex: string; readonly macHex: string };
  /** The batch it gives in 60.2 at sign-in (default: the terminal's). */
  readonly batchNo?: string;
  readonly parameters?: readonly Parameter[];
  /** Settlement result it answers in 48 (default 1, balanced). */
  readonly settlementResult?: 1 | 2 | 3;
  /** Field 54 of balance replies. */
  readonly balance54?: string;
  /** Decides per request; undefined: approve. */
  readonly respond?: (request: FakeRequest) => FakeAction | undefined;
  /** Keep the requests received (default true; the load measurement turns it off). */
  readonly record?: boolean;
}

interface Session {
  readonly algorithm: TerminalAlgorithm;
  keys: WorkingKeys | undefined;
}

const FRAME_HEAD_BYTES = 13;

export class FakeHost {
  readonly requests: FakeRequest[] = [];
  readonly #options: FakeHostOptions;
  readonly #server: net.Server;
  readonly #sessions = new Map<string, Session>();
  readonly #sockets = new Set<net.Socket>();
  #rrn = 0;
  port = 0;

  constructor(options: FakeHostOptions = {}) {
    this.#options = options;
    this.#server = net.createServer((socket) => this.#serve(socket));
  }

  static async start(options: FakeHostOptions = {}): Promise<FakeHost> {
    const host = new FakeHost(options);
    await new Promise<void>((resolve) => host.#server.listen(0, '127.0.0.1', resolve));
    host.port = (host.#server.address() as net.AddressInfo).port;
    return host;
  }

  get endpoint(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions.values()) {
      session.keys?.pin.destroy();
      session.keys?.mac.destroy();
    }
  }

  /** Drops every open connection (as a host restart would). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #terminal(terminalId: string): FakeTerminal {
    const configured = this.#options.terminals?.[terminalId];
    if (configured !== undefined) return configured;
    return { algorithm: DEMO_TERMINALS.get(terminalId)?.algorithm ?? '3des' };
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader();
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      try {
        reader.push(chunk, (frame) => {
          const reply = this.#handle(frame);
          if (reply !== undefined) socket.write(reply);
        });
      } catch {
        socket.destroy();
      }
    });
  }

  #handle(frame: Uint8Array): Uint8Array | undefined {
    const { tpdu, header, message: bytes } = parsePosFrame(frame);
    const head = unpack(tillpointPosV1, bytes, { throughField: 42 });
    const terminalId = head.get(41) ?? '';
    const terminal = this.#terminal(terminalId);
    let session = this.#sessions.get(terminalId);
    if (session === undefined || session.algorithm !== terminal.algorithm) {
      session = { algorithm: terminal.algorithm, keys: undefined };
      this.#sessions.set(terminalId, session);
    }
    const spec = specFor(terminal.algorithm);
    const request = unpack(spec, bytes);
    const fakeRequest: FakeRequest = {
      mti: request.mti,
      terminalId,
      message: request,
      get fields() {
        return request.exposeFields().fields;
      },
      frame,
    };
    if (this.#options.record !== false) this.requests.push(fakeRequest);
    const action = this.#options.respond?.(fakeRequest) ?? { kind: 'reply' };
    if (action.kind === 'drop') return undefined;
    const reply = new Message(spec, responseMti(request.mti));
    reply.copyFrom(request, [2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60]);
    const code = action.code ?? '00';
    reply.set(39, code);
    reply.set(12, '093120').set(13, '1126');
    const mti = request.mti;
    const nmc = request.get('60.3');
    if (mti === '0800' && (nmc === '003' || nmc === '004')) {
      if (code === '00') {
        const issued = this.#issueKeys(terminal, nmc === '004');
        session.keys?.pin.destroy();
        session.keys?.mac.destroy();
        session.keys = issued.keys;
        reply.set(62, issued.field62);
        const batch = this.#options.batchNo;
        if (batch !== undefined) reply.set('60.2', batch);
      }
      reply.set(37, this.#nextRrn());
    } else if (mti === '0800' && nmc === '360') {
      reply.set(62, encodeParameters(this.#options.parameters ?? []));
    } else if (mti === '0500') {
      const totals = request.get(48);
      reply.copyFrom(request, [48, 63]);
      if (totals !== undefined && totals.length === 62) {
        const result = String(this.#options.settlementResult ?? 1);
        reply.set(48, `${totals.slice(0, 30)}${result}${totals.slice(31, 61)}${result}`);
      }
    } else if (mti === '0200' || mti === '0220' || mti === '0100') {
      if (code === '00') {
        reply.set(37, request.get(37) ?? this.#nextRrn());
        if (mti !== '0220') reply.set(38, request.get(38) ?? `A${request.get(11)?.slice(1) ?? '00000'}`);
        reply.set(63, 'CUP');
        if (request.get(3) === '310000') reply.set(54, this.#options.balance54 ?? '1002156C000005000000');
      }
    }
    action.edit?.(reply);
    const macKey = session.keys?.mac;
    const needsMac = request.has(64) && !UNMACED_RESPONSE_CODES.has(code) && macKey !== undefined;
    if (needsMac) reply.set(64, new Uint8Array(MAC_BYTES));
    const replyHeader: Header = { ...header, processingRequirement: action.processingRequirement ?? 0 };
    const replyTpdu: Tpdu = { destination: tpdu.source, source: tpdu.destination };
    const out = writePosFrame(replyTpdu, replyHeader, reply) as Buffer;
    if (needsMac) {
      const end = out.length - MAC_BYTES;
      const mac = generateMac(out.subarray(FRAME_HEAD_BYTES, end), macKey);
      if (action.badMac === true) mac[0]! ^= 1;
      mac.copy(out, end);
    }
    return out;
  }

  /**
   * Working keys for a sign-in and the field 62 that carries them, built here with node:crypto (not
   * with the keys module, so that the terminal's parsing is checked against a second implementation):
   * each key ECB-encrypted under the TMK and followed by its check value; a 3DES MAC key is 8 bytes and
   * 8 zero bytes.
   */
  #issueKeys(terminal: FakeTerminal, withTrack: boolean): { keys: WorkingKeys; field62: Uint8Array } {
    const sm4 = terminal.algorithm === 'sm4';
    const cipher = sm4 ? 'sm4-ecb' : 'des-ede-ecb';
    const block = sm4 ? 16 : 8;
    const encrypt = (key: Buffer, data: Buffer) => {
      const c = createCipheriv(cipher, key, null).setAutoPadding(false);
      return Buffer.concat([c.update(data), c.final()]);
    };
    const checkValue = (key: Buffer) => encrypt(key, Buffer.alloc(block)).subarray(0, 4);
    const tmk = Buffer.from(terminal.tmkHex ?? DEMO_TMK_HEX, 'hex');
    const fixed = this.#options.workingKeys;
    const pin = fixed === undefined ? randomBytes(16) : Buffer.from(fixed.pinHex, 'hex');
    let mac = fixed === undefined ? randomBytes(sm4 ? 16 : 8) : Buffer.from(fixed.macHex, 'hex');
    if (!sm4) mac = Buffer.concat([mac.subarray(0, 8), mac.subarray(0, 8)]);
    const parts = [encrypt(tmk, pin), checkValue(pin)];
    parts.push(sm4 ? encrypt(tmk, mac) : encrypt(tmk, mac.subarray(0, 8)));
    if (!sm4) parts.push(Buffer.alloc(8));
    parts.push(checkValue(mac));
    if (withTrack) {
      const track = randomBytes(16);
      parts.push(encrypt(tmk, track), checkValue(track));
    }
    const algorithm = sm4 ? 'sm4' : '3des-2key';
    const keys: WorkingKeys = {
      pin: importClearKey(pin, { algorithm, usage: 'pin' }),
      mac: importClearKey(mac, { algorithm, usage: 'mac' }),
    };
    return { keys, field62: Buffer.concat(parts) };
  }

  #nextRrn(): string {
    this.#rrn++;
    return `261126${String(this.#rrn).padStart(6, '0')}`;
  }
}
