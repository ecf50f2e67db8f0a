import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { TillpointError } from './shared/errors.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.httpPort, 8080);
    assert.equal(config.isoPort, 8583);
    assert.match(config.dataDir, /\/data$/);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.timeZone, 'Asia/Shanghai');
    assert.equal(config.logLevel, 'info');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['TILLPOINT_HTTP_PORT', 'abc', /TCP port number/],
    ['TILLPOINT_HTTP_PORT', '70000', /TCP port number/],
    ['TILLPOINT_ISO_PORT', '-1', /TCP port number/],
    ['DATABASE_URL', 'mysql://x', /postgres:\/\//],
    ['TILLPOINT_MASTER_KEY', 'abcd', /64 hexadecimal/],
    ['TILLPOINT_TIMEZONE', 'Mars/Olympus', /IANA time zone/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['TILLPOINT_HOST', 'a host', /host name/],
  ];
  for (const [variable, value, message] of bad) {
    it(`refuses ${variable}=${value}, naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) =>
          error instanceof TillpointError &&
          error.code === 'TILLPOINT_ERR_CONFIG' &&
          error.param === variable &&
          message.test(error.message) &&
          !error.message.includes('\n'),
      );
    });
  }

  it('never echoes a bad master key', () => {
    assert.throws(
      () => loadConfig({ TILLPOINT_MASTER_KEY: 'secretsecret' }),
      (error: unknown) => error instanceof TillpointError && !error.message.includes('secretsecret'),
    );
  });
});
