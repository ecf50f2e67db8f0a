import { type Cipheriv, createCipheriv, createDecipheriv, type Decipheriv, getCiphers } from 'node:crypto';
import { TillpointError } from '../shared/errors.ts';

// The OpenSSL ciphers the keys module uses, and the one place that creates cipher objects. Every
// cipher name is checked against this Node.js build's OpenSSL at first use, so that a build
// without SM4 (or a FIPS build without DES) fails with a message naming the cipher, not with
// OpenSSL's "unsupported" deep inside a sign-in.

let available: ReadonlySet<string> | undefined;
const checked = new Set<string>();

/** Throws TILLPOINT_ERR_CIPHER_UNAVAILABLE unless this Node.js build's OpenSSL offers `name`. */
export function requireCipher(name: string): void {
  if (checked.has(name)) return;
  available ??= new Set(getCiphers());
  if (!available.has(name)) throw cipherUnavailable(name);
  checked.add(name);
}

function cipherUnavailable(name: string, cause?: unknown): TillpointError {
  return new TillpointError(
    'TILLPOINT_ERR_CIPHER_UNAVAILABLE',
    `The cipher ${name} is not available in this Node.js build (OpenSSL ${process.versions.openssl}); ` +
      'Tillpoint needs Node.js 24 with OpenSSL 3 offering 3DES (des-ede-ecb, des-ede3-ecb), SM4 (sm4-ecb) and AES',
    { param: name, cause },
  );
}

/**
 * A cipher object for `name` with padding off. ECB and CBC objects are created once per key and fed
 * block-aligned data with `update()` for the key's lifetime; `final()` is called only to destroy.
 */
export function newCipher(name: string, key: Buffer, iv: Buffer | null): Cipheriv {
  requireCipher(name);
  try {
    const cipher = createCipheriv(name, key, iv);
    cipher.setAutoPadding(false);
    return cipher;
  } catch (error) {
    throw cipherUnavailable(name, error);
  }
}

export function newDecipher(name: string, key: Buffer, iv: Buffer | null): Decipheriv {
  requireCipher(name);
  try {
    const decipher = createDecipheriv(name, key, iv);
    decipher.setAutoPadding(false);
    return decipher;
  } catch (error) {
    throw cipherUnavailable(name, error);
  }
}

/**
 * Best-effort wipe of a cipher object: `final()` makes Node.js free its EVP_CIPHER_CTX now, which
 * OpenSSL cleanses, instead of whenever the garbage collector gets to it.
 */
export function closeCipher(cipher: Cipheriv | Decipheriv | undefined): void {
  if (cipher === undefined) return;
  try {
    cipher.final();
  } catch {
    // Nothing buffered is expected; a cipher already finished throws, which is fine here.
  }
}
