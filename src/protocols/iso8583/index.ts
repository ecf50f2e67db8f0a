// The ISO 8583 codec: the only file other modules import. Pure: no I/O, no database, no logger.

export { pack, packInto, type UnpackOptions, unpack } from './codec.ts';
export {
  HEADER_BYTES,
  Header,
  type PosFrame,
  PROCESSING_NONE,
  PROCESSING_SIGN_IN_AGAIN,
  parsePosFrame,
  TPDU_BYTES,
  Tpdu,
  writePosFrame,
} from './envelope.ts';
export { Iso8583Error, type Iso8583Reason, isIso8583Error } from './errors.ts';
export {
  DEFAULT_MAX_FRAME_BYTES,
  FrameError,
  type FrameErrorReason,
  FrameReader,
  type FrameReaderOptions,
  writeFrame,
} from './frame.ts';
export {
  type BatchUploadDetail,
  decodeBatchEnd,
  decodeBatchUploadDetails,
  decodeSettlementTotals,
  encodeBatchEnd,
  encodeBatchUploadDetails,
  encodeSettlementTotals,
  type SettlementTotals,
  type SideTotals,
} from './layouts.ts';
export { dumpMessage, formatDump, type MessageDump, maskPan } from './mask.ts';
export { type AnyFieldValue, type AnyMessage, type ExposedMessage, Message } from './message.ts';
export { isMti, isResponseMti, responseMti } from './mti.ts';
export { renderFieldTable, replaceFieldTables } from './profile-doc.ts';
export {
  defineSpec,
  type FieldFormat,
  type FieldNumber,
  type FieldSpec,
  type FieldValue,
  fieldBuilder,
  formatNotation,
  type MessageSpec,
  type SubfieldId,
  type SubfieldSpec,
  withSubfields,
} from './spec.ts';
export { iso87Ascii } from './specs/iso87-ascii.ts';
export { tillpointPosV1, tillpointPosV1Sm4 } from './specs/tillpoint-pos-v1.ts';
export { decodeTlv, type EmvTagInfo, emvTags, encodeTlv, findTlv, type TlvObject } from './tlv.ts';
