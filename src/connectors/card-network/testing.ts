import { encryptPin, generateKey, importClearKey, type KeyHandle } from '../../keys/index.ts';
import type { NetworkOperation, NetworkRequest, OriginalReference } from '../../payments/index.ts';
import { Secret } from '../../shared/secret.ts';

// Helpers for tests of the card network (this module's and the payments module's): keys, requests
// with fresh references, PIN blocks under the zone PIN key.

/** The zone PIN key of the tests (3DES double length, the one the iso87 link carries in field 52). */
export function testZpk(): KeyHandle {
  return importClearKey(Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex'), {
    algorithm: '3des-2key',
    usage: 'zpk',
  });
}

export function testPvk(): KeyHandle {
  return generateKey({ algorithm: '3des-2key', usage: 'pvk' });
}

export function testPanHashKey(): Secret<Buffer> {
  return new Secret(Buffer.from('tillpoint test pan-hash key 0001', 'ascii'));
}

let sequence = 0;

/** A fresh STAN and RRN (unique within the process). */
export function nextReference(): { stan: string; rrn: string } {
  sequence++;
  const stan = (sequence % 1_000_000).toString().padStart(6, '0');
  return {
    stan,
    rrn: `${process.pid.toString().slice(-4).padStart(4, '0')}${sequence.toString().padStart(8, '0')}`,
  };
}

export interface RequestOptions {
  amountMinor?: bigint;
  pin?: string;
  /** Sends this (encrypted) PIN block as it is. */
  pinBlock?: Buffer;
  zpk?: KeyHandle;
  expiry?: string;
  original?: OriginalReference;
  stan?: string;
  rrn?: string;
  terminalId?: string;
  currencyNumeric?: string;
  transmittedAt?: Date;
}

/** Voids carry their original's amount; a balance inquiry 0; anything else ¥12.34. */
function defaultAmount(operation: NetworkOperation, original: OriginalReference | undefined): bigint {
  if (operation === 'balance') return 0n;
  if (original !== undefined && operation.endsWith('void')) return original.amountMinor;
  return 1234n;
}

export function testRequest(
  pan: string,
  operation: NetworkOperation,
  options: RequestOptions = {},
): NetworkRequest {
  const reference = nextReference();
  const zpk = options.zpk;
  let pinBlock: Secret<Buffer> | undefined;
  if (options.pinBlock !== undefined) pinBlock = new Secret(options.pinBlock);
  else if (options.pin !== undefined && zpk !== undefined) {
    pinBlock = new Secret(encryptPin(new Secret(options.pin), pan, zpk));
  }
  return {
    operation,
    stan: options.stan ?? reference.stan,
    rrn: options.rrn ?? reference.rrn,
    transmittedAt: options.transmittedAt ?? new Date(),
    amountMinor: options.amountMinor ?? defaultAmount(operation, options.original),
    currencyNumeric: options.currencyNumeric ?? '156',
    card: {
      pan: new Secret(pan),
      entryMode: pinBlock === undefined ? '022' : '021',
      ...(options.expiry === undefined ? {} : { expiry: options.expiry }),
    },
    ...(pinBlock === undefined ? {} : { pinBlockUnderZpk: pinBlock }),
    acquirerCode: '48021000',
    terminalId: options.terminalId ?? '10000001',
    merchantId: '102314054110001',
    merchantName: 'Zhenjiang Wanjiafu Supermarket',
    ...(options.original === undefined ? {} : { original: options.original }),
  };
}

/** The reference a void, refund or completion gives of an approved request. */
export function originalOf(request: NetworkRequest, authCode?: string): OriginalReference {
  return {
    rrn: request.rrn,
    stan: request.stan,
    amountMinor: request.amountMinor,
    transmittedAt: request.transmittedAt,
    ...(authCode === undefined ? {} : { authCode }),
  };
}

/** A PAN of the test range that no test card uses, unique within the process. */
export function freshPan(): string {
  sequence++;
  return `62284800${(process.pid % 100).toString().padStart(2, '0')}${sequence.toString().padStart(6, '0')}`;
}

/** Polls `check` until it returns true (or throws when `timeoutMs` passes): for effects that land later. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
