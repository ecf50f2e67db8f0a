import assert from 'node:assert/strict';
import { type ErrorCode, TillpointError } from './errors.ts';

// What tests across modules share.

/** Awaits a promise that must reject with a TillpointError of `code` (and `param`); returns the error. */
export async function rejects(
  promise: Promise<unknown>,
  code: ErrorCode,
  param?: string,
): Promise<TillpointError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TillpointError, `expected a TillpointError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (param !== undefined) assert.equal(error.param, param);
    return error;
  }
  assert.fail(`expected ${code}`);
}
