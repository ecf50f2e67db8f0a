// The requests a terminal sends, built from the transaction table (protocol.ts): pure functions of
// the terminal's identity, trace, batch and input, so that tests can compare them with the golden
// frames byte for byte. Framing and the MAC (field 64) are here too; the keys stay in the terminal.

import {
  type BatchUploadDetail,
  encodeBatchEnd,
  encodeBatchUploadDetails,
  encodeSettlementTotals,
  type Header,
  Message,
  type SettlementTotals,
  Tpdu,
  tillpointPosV1,
  tillpointPosV1Sm4,
  writePosFrame,
} from '../protocols/iso8583/index.ts';
import type { CardData, OriginalRef } from './journal.ts';
import { generateMac, type KeyHandle, MAC_BYTES, type MacAlgorithm } from './keys.ts';
import { FINANCIAL, type FinancialType, NMC, type ReversalReason, type SignInKeySet } from './protocol.ts';
import type { PendingReversal, TerminalAlgorithm } from './state.ts';

export type PosSpec = typeof tillpointPosV1;
export type PosMessage = Message<PosSpec>;

/** The codec spec of a terminal: the SM4 variant differs only in the length of field 52. */
export function specFor(algorithm: TerminalAlgorithm): PosSpec {
  return algorithm === 'sm4' ? (tillpointPosV1Sm4 as unknown as PosSpec) : tillpointPosV1;
}

export interface TerminalIdentity {
  readonly terminalId: string;
  readonly merchantId: string;
}

/** The envelope of every frame: TPDU (terminal → host) and the 6-byte header. */
export interface Envelope {
  readonly tpdu: Tpdu;
  readonly header: Header;
}

export const DEFAULT_TPDU: Tpdu = { destination: 0x0003, source: 0x0000 };
export const DEFAULT_HEADER: Header = {
  applicationType: 0x60,
  version: 0x31,
  terminalStatus: 0,
  processingRequirement: 0,
  subVersion: '000000',
};

/** `6000030000` → a TPDU; undefined when the text is not 10 hex digits starting with 60. */
export function parseTpdu(text: string): Tpdu | undefined {
  if (!/^60[0-9A-Fa-f]{8}$/.test(text)) return undefined;
  return Tpdu.parse(Buffer.from(text, 'hex'));
}

const CURRENCY_CNY = '156';
/** 53: PIN block format 2 (ISO 9564 format 0 with PAN), algorithm 6, track data not encrypted. */
const SECURITY_CONTROL = '2600000000000000';
const PIN_CAPTURE_CODE = '12';
/** 60.3–60.5 of financial messages: no network management code, read capability 5, chip condition 0. */
const FINANCIAL_60_TAIL = '00050';
/** Track 2 after PAN and expiry: service code 201 and ten digits of discretionary data. */
const TRACK2_TAIL = '2010000000000';

function identify(message: PosMessage, identity: TerminalIdentity, trace: string): PosMessage {
  return message.set(11, trace).set(41, identity.terminalId).set(42, identity.merchantId);
}

/** 2, 14, 22, 35 of a card; with a PIN block also 26, 52, 53. */
export function setCard(message: PosMessage, card: CardData, pinBlock: Uint8Array | null): void {
  message.set(2, card.pan).set(14, card.expiry);
  message.set(22, `${card.entry === 'manual' ? '01' : '02'}${pinBlock === null ? '2' : '1'}`);
  if (card.entry === 'swipe') message.set(35, `${card.pan}=${card.expiry}${TRACK2_TAIL}`);
  if (pinBlock !== null) {
    message.set(26, PIN_CAPTURE_CODE).set(52, pinBlock).set(53, SECURITY_CONTROL);
  }
}

export interface FinancialRequest {
  readonly type: FinancialType;
  readonly identity: TerminalIdentity;
  readonly trace: string;
  readonly batchNo: string;
  /** Ignored for a balance inquiry. */
  readonly amountMinor: bigint | null;
  readonly card: CardData;
  /** Under the working PIN key (8 bytes, 16 for SM4), or null without PIN. */
  readonly pinBlock: Uint8Array | null;
  readonly original: OriginalRef | null;
  readonly operator: string | null;
}

export function amountField(amountMinor: bigint): string {
  return amountMinor.toString().padStart(12, '0');
}

/** A balance inquiry, sale, void, refund, pre-auth, pre-auth void, completion or completion void (without 64). */
export function buildFinancialRequest(spec: PosSpec, request: FinancialRequest): PosMessage {
  const profile = FINANCIAL[request.type];
  const message = new Message(spec, profile.mti);
  setCard(message, request.card, request.pinBlock);
  message.set(3, profile.processingCode);
  if (profile.hasAmount && request.amountMinor !== null) message.set(4, amountField(request.amountMinor));
  identify(message, request.identity, request.trace);
  message.set(25, profile.conditionCode);
  message.set(49, CURRENCY_CNY);
  message.set(60, `${profile.messageTypeCode}${request.batchNo}${FINANCIAL_60_TAIL}`);
  const wanted = profile.original;
  const original = request.original;
  if (wanted !== null && original !== null) {
    if (wanted.rrn && original.rrn !== null) message.set(37, original.rrn);
    if (wanted.authCode && original.authCode !== null) message.set(38, original.authCode);
    message.set(61, `${original.batchNo}${original.trace}${wanted.date ? (original.date ?? '0000') : ''}`);
  }
  if (profile.sendsOperator && request.operator !== null) message.set(63, request.operator);
  return message;
}

export interface ManagementRequest {
  readonly identity: TerminalIdentity;
  readonly trace: string;
  readonly batchNo: string;
}

/** 0800 sign-in: 60.3 003 (PIN + MAC keys) or 004 (+ track key); 63 the operator, if any. */
export function buildSignIn(
  spec: PosSpec,
  request: ManagementRequest & { readonly keySet: SignInKeySet; readonly operator: string | null },
): PosMessage {
  const message = identify(new Message(spec, '0800'), request.identity, request.trace);
  message.set(60, `00${request.batchNo}${request.keySet}`);
  if (request.operator !== null) message.set(63, request.operator);
  return message;
}

export type NetworkKind = 'sign_out' | 'echo' | 'params';

const NETWORK: Readonly<Record<NetworkKind, { mti: string; code: string }>> = {
  sign_out: { mti: '0820', code: NMC.signOut },
  echo: { mti: '0820', code: NMC.echo },
  params: { mti: '0800', code: NMC.params },
};

/** Sign-out (0820 002), echo test (0820 301), parameter download (0800 360). */
export function buildNetworkManagement(
  spec: PosSpec,
  kind: NetworkKind,
  request: ManagementRequest,
): PosMessage {
  const { mti, code } = NETWORK[kind];
  const message = identify(new Message(spec, mti), request.identity, request.trace);
  return message.set(60, `00${request.batchNo}${code}`);
}

/** 0500 batch settlement: 48 the terminal's totals (result 0), 63 the operator. */
export function buildSettlement(
  spec: PosSpec,
  request: ManagementRequest & { readonly totals: SettlementTotals; readonly operator: string | null },
): PosMessage {
  const message = identify(new Message(spec, '0500'), request.identity, request.trace);
  message.set(48, encodeSettlementTotals(request.totals));
  message.set(49, CURRENCY_CNY);
  message.set(60, `00${request.batchNo}${NMC.settlement}`);
  if (request.operator !== null) message.set(63, request.operator);
  return message;
}

/** 0320 batch upload (60.3 201) of 1 to 8 details. */
export function buildBatchUpload(
  spec: PosSpec,
  request: ManagementRequest & { readonly details: readonly BatchUploadDetail[] },
): PosMessage {
  const message = identify(new Message(spec, '0320'), request.identity, request.trace);
  message.set(48, encodeBatchUploadDetails(request.details));
  return message.set(60, `00${request.batchNo}${NMC.uploadDetails}`);
}

/** 0320 end of the batch upload (60.3 202) with the number of details uploaded. */
export function buildBatchEnd(
  spec: PosSpec,
  request: ManagementRequest & { readonly count: number },
): PosMessage {
  const message = identify(new Message(spec, '0320'), request.identity, request.trace);
  message.set(48, encodeBatchEnd(request.count));
  return message.set(60, `00${request.batchNo}${NMC.uploadEnd}`);
}

/** The original's fields a reversal repeats (those the request had). */
export const REVERSAL_FIELDS = [2, 3, 4, 11, 14, 22, 23, 25, 38, 41, 42, 49, 60, 61] as const;

/** What a pending reversal keeps of a reversible request. */
export function reversalFieldsOf(request: PosMessage): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const n of REVERSAL_FIELDS) {
    const value = request.get(n);
    if (typeof value === 'string') fields[n] = value;
  }
  return fields;
}

/** 0400 reversal: the original's fields, 39 the reason (98 no reply, A0 MAC of the reply failed, 06 other). */
export function buildReversal(
  spec: PosSpec,
  pending: Pick<PendingReversal, 'fields'>,
  reason: ReversalReason,
): PosMessage {
  const message = new Message(spec, '0400');
  for (const n of REVERSAL_FIELDS) {
    const value = pending.fields[n];
    if (value !== undefined) message.set(n, value);
  }
  return message.set(39, reason);
}

// ---- framing and MAC -------------------------------------------------------------------------

/** Bytes before the MTI in a frame: length (2), TPDU (5), header (6). */
export const FRAME_HEAD_BYTES = 13;
const MAC_PLACEHOLDER = new Uint8Array(MAC_BYTES);

/**
 * The whole frame of a request. With a MAC key, field 64 is set and the MAC is computed over the
 * bytes from the MTI to the end of the field before 64, then written into the frame's last 8 bytes
 * (and into the message's field 64).
 */
export function frameRequest(
  envelope: Envelope,
  message: PosMessage,
  mac: { readonly key: KeyHandle; readonly algorithm: MacAlgorithm } | null,
): Buffer {
  if (mac !== null) message.set(64, MAC_PLACEHOLDER);
  const frame = writePosFrame(envelope.tpdu, envelope.header, message) as Buffer;
  if (mac !== null) {
    const end = frame.length - MAC_BYTES;
    const code = generateMac(frame.subarray(FRAME_HEAD_BYTES, end), mac.key, mac.algorithm);
    code.copy(frame, end);
    message.set(64, code);
  }
  return frame;
}
