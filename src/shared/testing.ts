import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { type ErrorCode, TillpointError } from './errors.ts';
import { freePort } from './ports.ts';

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

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly isoPort: number;
  /** What it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Starts `tillpoint serve` (the CLI at `cli`) and waits until it says it is ready: on `ports` (a
 * restart where clients expect it), else on two free ports. A free port can be taken by another test
 * between the probe and the listen: then it starts again on other ports (three tries).
 */
export async function startServe(options: {
  cli: string;
  env: (ports: { httpPort: number; isoPort: number }) => NodeJS.ProcessEnv;
  ports?: { httpPort: number; isoPort: number };
  timeoutMs?: number;
}): Promise<ServeProcess> {
  for (let attempt = 1; ; attempt++) {
    const httpPort = options.ports?.httpPort ?? (await freePort());
    const isoPort = options.ports?.isoPort ?? (await freePort());
    const child = spawn(process.execPath, [options.cli, 'serve'], {
      env: options.env({ httpPort, isoPort }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });
    const deadline = Date.now() + (options.timeoutMs ?? 90_000);
    while (!output.includes('Tillpoint is ready')) {
      if (child.exitCode !== null || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (output.includes('Tillpoint is ready')) return { child, httpPort, isoPort, output: () => output };
    if (child.exitCode === null) child.kill('SIGKILL');
    const otherPorts = options.ports === undefined && output.includes('EADDRINUSE');
    if (attempt >= 3 || !otherPorts) throw new Error(`serve did not start:\n${output}`);
  }
}
