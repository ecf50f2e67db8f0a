// The keys module as the terminal uses it: its public entry, src/keys/index.ts.

export {
  encryptPin,
  generateMac,
  importClearKey,
  type KeyHandle,
  MAC_BYTES,
  type MacAlgorithm,
  parseWorkingKeysField62,
  toHex,
  verifyMac,
  type WorkingKeys,
} from '../keys/index.ts';
