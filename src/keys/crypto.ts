// The public surface of the keys module's cryptographic core: a software security module working on
// clear keys held in memory (KeyHandle). The key store (sealed keys in PostgreSQL) and the module's
// index.ts build on this file; nothing outside src/keys imports the files below directly.
//
// HSM command            → function
// generate key           → generateKey
// import from components → combineKeyComponents (componentCheckValue to show each one)
// export as components   → splitKey
// import / export (KEK)  → importKeyUnderKek / exportKeyUnderKek
// check value            → KeyHandle.checkValue
// derive working keys    → generateWorkingKeys (sign-in), parseWorkingKeysField62 (terminal side)
// translate PIN          → translatePinBlock (translatePinBlocks: many to one zone key in one call)
// verify PIN             → verifyPin with pinVerificationValue (the simulated issuer)
// MAC generate / verify  → generateMac / verifyMac ('ecb', 'x99', 'x919')
// encrypt / decrypt data → encryptTrackData / decryptTrackData, encryptData / decryptData
// seal under master key  → sealKey / openSealedKey (AES-256-GCM of src/shared/secrets.ts)

export {
  COMPONENTS_MAX,
  COMPONENTS_MIN,
  type CombinedKey,
  type ComponentInput,
  combineKeyComponents,
  componentCheckValue,
  type KeyComponent,
  splitKey,
} from './components.ts';
export { decryptData, decryptTrackData, encryptData, encryptTrackData } from './data.ts';
export { checkValueMatches, keyFromHex, parseCheckValue, toHex } from './hex.ts';
export {
  ALGORITHMS,
  type AlgorithmInfo,
  checkValueOf,
  type GenerateOptions,
  generateKey,
  hasOddParity,
  type ImportOptions,
  importClearKey,
  isKeyAlgorithm,
  isKeyUsage,
  isSingleLengthDes,
  KEY_ALGORITHMS,
  KEY_USAGES,
  type KeyAlgorithm,
  KeyHandle,
  type KeySpec,
  type KeyUsage,
  setOddParity,
} from './key-handle.ts';
export { generateMac, MAC_ALGORITHMS, MAC_BYTES, type MacAlgorithm, verifyMac } from './mac.ts';
export {
  buildPinBlock,
  encryptPin,
  encryptPinBlock,
  PIN_LENGTH_MAX,
  PIN_LENGTH_MIN,
  type PinTranslation,
  parsePinBlock,
  pinVerificationValue,
  translatePinBlock,
  translatePinBlocks,
  verifyPin,
} from './pin.ts';
export { openSealedKey, type SealedKeyContext, sealedKeyAssociatedData, sealKey } from './seal.ts';
export {
  buildWorkingKeysField62,
  generateWorkingKeys,
  parseWorkingKeysField62,
  type WorkingKeySet,
  type WorkingKeys,
  workingKeySetFor,
} from './working-keys.ts';
export { exportKeyUnderKek, importKeyUnderKek, WRAPPABLE_USAGES, type WrappedKey } from './wrap.ts';
