import { inspect } from 'node:util';

const REDACTED = '***';

/**
 * Wraps a secret (card data, key material, a password) so that it cannot leak by accident:
 * `toString`, `toJSON` and `util.inspect` print `***`. Code that needs the value calls `expose()`,
 * which is easy to grep for.
 */
export class Secret<T> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  expose(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}
