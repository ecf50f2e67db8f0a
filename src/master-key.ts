import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { TillpointError } from './shared/errors.ts';
import type { Logger } from './shared/logger.ts';
import { generateMasterKey, type MasterKey, masterKeyFrom } from './shared/secrets.ts';

// The master key protects every stored key. Production supplies it (TILLPOINT_MASTER_KEY, hex);
// otherwise the first start generates one into <data dir>/master.key (mode 0600) and says that this
// is only fit for trying Tillpoint out.

export const MASTER_KEY_FILE = 'master.key';

export function loadMasterKey(config: Pick<Config, 'masterKeyHex' | 'dataDir'>, logger: Logger): MasterKey {
  if (config.masterKeyHex !== undefined) return masterKeyFrom(Buffer.from(config.masterKeyHex, 'hex'));
  const file = path.join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-fA-F]{64}$/.test(text)) {
      throw new TillpointError(
        'TILLPOINT_ERR_MASTER_KEY_INVALID',
        `${file} must hold 64 hexadecimal characters (a 256-bit key)`,
        { param: 'TILLPOINT_MASTER_KEY' },
      );
    }
    return masterKeyFrom(Buffer.from(text, 'hex'));
  }
  const key = generateMasterKey();
  writeFileSync(file, `${key.material.expose().toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  logger.warn(
    { file, masterKeyId: key.id },
    'generated a master key into the data directory: fine for trying Tillpoint, not for production — set TILLPOINT_MASTER_KEY (64 hex characters) from your own key custody',
  );
  return key;
}
