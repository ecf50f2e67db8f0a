import { randomFillSync } from 'node:crypto';
import { TillpointError } from '../shared/errors.ts';
import { Secret } from '../shared/secret.ts';
import { checkValueMatches } from './hex.ts';
import {
  ALGORITHMS,
  adoptMaterial,
  checkValueOfMaterial,
  type KeyAlgorithm,
  type KeyHandle,
  type KeySpec,
  materialOf,
} from './key-handle.ts';

// Key components for key ceremonies: a key is entered as 2 or 3 components held by different
// custodians, XOR-ed together; no custodian ever sees the key. Each component is shown with its own
// check value so that a custodian can confirm what they typed, and the combined key with its own.

export const COMPONENTS_MIN = 2;
export const COMPONENTS_MAX = 9;

export interface KeyComponent {
  readonly component: Secret<Buffer>;
  /** Check value of the component taken as a key of the same algorithm (8 hex digits). */
  readonly checkValue: string;
}

export interface ComponentInput {
  readonly component: Buffer | Secret<Buffer>;
  /** The check value the custodian's form states (6 or 8 hex digits); checked when given. */
  readonly checkValue?: string;
}

export interface CombinedKey {
  readonly key: KeyHandle;
  /** The check value of each component, in the order given, for display. */
  readonly componentCheckValues: readonly string[];
}

function checkCount(count: number, param: string): void {
  if (!Number.isInteger(count) || count < COMPONENTS_MIN || count > COMPONENTS_MAX) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `A key is split into ${COMPONENTS_MIN} to ${COMPONENTS_MAX} components; got ${count}`,
      { param },
    );
  }
}

/** The check value of one component, computed as if it were a key of `algorithm`. */
export function componentCheckValue(component: Buffer | Secret<Buffer>, algorithm: KeyAlgorithm): string {
  const material = component instanceof Secret ? component.expose() : component;
  checkComponentLength(material, algorithm, 'component');
  return checkValueOfMaterial(material, algorithm);
}

function checkComponentLength(material: Buffer, algorithm: KeyAlgorithm, param: string): void {
  const lengthBytes = ALGORITHMS[algorithm].lengthBytes;
  if (material.length !== lengthBytes) {
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_LENGTH_INVALID',
      `${param}: a component of a ${algorithm} key is ${lengthBytes} bytes (${lengthBytes * 2} hex digits); got ${material.length} bytes`,
      { param },
    );
  }
}

/**
 * XORs 2 to 9 components into a key. Each component must have the key's length, and where a check
 * value is stated it must match (the error names the component). The XOR is kept as it is: DES
 * parity is not forced (DES ignores the parity bits), so combining the components of a key gives
 * back exactly that key. `options.checkValue` is the combined key's stated check value.
 */
export function combineKeyComponents(
  components: readonly ComponentInput[],
  spec: KeySpec,
  options: { readonly checkValue?: string } = {},
): CombinedKey {
  checkCount(components.length, 'components');
  const lengthBytes = ALGORITHMS[spec.algorithm].lengthBytes;
  const componentCheckValues: string[] = [];
  components.forEach((input, index) => {
    const param = `component ${index + 1}`;
    const material = input.component instanceof Secret ? input.component.expose() : input.component;
    checkComponentLength(material, spec.algorithm, param);
    const checkValue = checkValueOfMaterial(material, spec.algorithm);
    if (
      input.checkValue !== undefined &&
      !checkValueMatches(checkValue, input.checkValue, `${param} check value`)
    ) {
      throw new TillpointError(
        'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
        `${param} has check value ${checkValue}, not the stated ${input.checkValue.toUpperCase()}: re-enter that component`,
        { param },
      );
    }
    componentCheckValues.push(checkValue);
  });
  const combined = Buffer.alloc(lengthBytes);
  for (const input of components) {
    const material = input.component instanceof Secret ? input.component.expose() : input.component;
    for (let i = 0; i < lengthBytes; i++) combined[i]! ^= material[i]!;
  }
  const key = adoptMaterial(combined, spec, 'combined key');
  if (
    options.checkValue !== undefined &&
    !checkValueMatches(key.checkValue, options.checkValue, 'checkValue')
  ) {
    const actual = key.checkValue;
    key.destroy();
    throw new TillpointError(
      'TILLPOINT_ERR_KEY_CHECK_VALUE_MISMATCH',
      `The combined key has check value ${actual}, not the stated ${options.checkValue.toUpperCase()}: a component is wrong or missing`,
      { param: 'checkValue' },
    );
  }
  return { key, componentCheckValues };
}

/**
 * Splits a key into `count` random components whose XOR is the key: `count - 1` random ones and a
 * last one that completes the XOR. Any `count - 1` of them together say nothing about the key.
 */
export function splitKey(key: KeyHandle, count: number): KeyComponent[] {
  checkCount(count, 'count');
  const material = materialOf(key);
  const last = Buffer.alloc(material.length);
  material.copy(last);
  const components: KeyComponent[] = [];
  for (let c = 0; c < count - 1; c++) {
    const component = Buffer.alloc(material.length);
    randomFillSync(component);
    for (let i = 0; i < material.length; i++) last[i]! ^= component[i]!;
    components.push({
      component: new Secret(component),
      checkValue: checkValueOfMaterial(component, key.algorithm),
    });
  }
  components.push({ component: new Secret(last), checkValue: checkValueOfMaterial(last, key.algorithm) });
  return components;
}
