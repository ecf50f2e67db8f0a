import { TillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';

// Hex for key ceremonies and check values, and the byte-level hex the profile MAC needs.

/** ASCII codes of the uppercase hex digits: HEX_ASCII[n] for a nibble n. */
export const HEX_ASCII: Uint8Array = new Uint8Array(Buffer.from('0123456789ABCDEF', 'ascii'));

const HEX_PATTERN = /^(?:[0-9a-fA-F]{2})+$/;

/** Uppercase hex, the form HSMs and key ceremony forms print. Never use it on key material in logs. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}

/**
 * Key material (or a component) typed as hex, e.g. by a key custodian: spaces are allowed between
 * groups. The message never repeats the input.
 */
export function keyFromHex(text: string, param = 'key'): Secret<Buffer> {
  const compact = text.replace(/[\s]/g, '');
  if (!HEX_PATTERN.test(compact)) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_LENGTH_INVALID',
      `${param} must be hex digits (0-9, A-F) in pairs; got ${compact.length} characters that are not`,
      { param },
    );
  }
  const material = Buffer.alloc(compact.length / 2);
  material.write(compact, 'hex');
  return new Secret(material);
}

const CHECK_VALUE_PATTERN = /^(?:[0-9A-F]{6}|[0-9A-F]{8})$/;

/**
 * A check value as stated by a person or a partner: 6 hex digits (3 bytes, as many HSMs print) or 8
 * (4 bytes, Tillpoint's form). Returns it uppercased.
 */
export function parseCheckValue(text: string, param = 'checkValue'): string {
  const upper = text.replace(/\s/g, '').toUpperCase();
  if (!CHECK_VALUE_PATTERN.test(upper)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `${param} must be 6 or 8 hex digits; got ${JSON.stringify(text)}`,
      { param },
    );
  }
  return upper;
}

/** True when a stated check value (6 or 8 hex digits) is a prefix of the actual 8-digit one. */
export function checkValueMatches(actual: string, stated: string, param = 'checkValue'): boolean {
  return actual.startsWith(parseCheckValue(stated, param));
}
