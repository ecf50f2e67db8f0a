import { hash } from 'node:crypto';

// The references this host gives a request towards the card network — its retrieval reference
// number (field 37, 12 digits) and its system trace audit number there (6 digits) — are derived from
// the request's own key (acquirer, terminal, merchant, batch, trace, MTI), not drawn from a counter. So they are the same whenever the same request is handled: a
// retransmission after a restart reaches the network as the same message (which answers it as it
// did, moving no money twice), and a terminal's reversal of a request the host never recorded (it
// crashed between the network's answer and its commit) can still name that request to the network.

const RRN_SPACE = 10n ** 12n;

export interface RequestKey {
  acquirerCode: string;
  terminalId: string;
  merchantId: string;
  batchNo: number;
  trace: string;
  /** The request's MTI (0100, 0200, 0220): a reversal names its original's. */
  mti: string;
}

export function networkReferences(key: RequestKey): { rrn: string; stan: string } {
  const digest = hash(
    'sha256',
    `tillpoint-network-reference\0${key.acquirerCode}\0${key.terminalId}\0${key.merchantId}\0${key.batchNo}\0${key.trace}\0${key.mti}`,
    'buffer',
  );
  // The two together name a request to the network: one chance in 10^18 that two requests share them.
  const rrn = (digest.readBigUInt64BE(0) % RRN_SPACE).toString().padStart(12, '0');
  const stan = String((digest.readUInt32BE(8) % 999_999) + 1).padStart(6, '0');
  return { rrn, stan };
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

let lastSecond = Number.NaN;
let lastZone = '';
let lastFields = { date: '', time: '', businessDate: '' };

/** Local date and time fields of an instant in a time zone: MMDD (13) and hhmmss (12), and YYYY-MM-DD. */
export function localFields(
  at: Date,
  timeZone: string,
): { date: string; time: string; businessDate: string } {
  // Formatting costs microseconds and a busy host asks thousands of times a second: once a second will do.
  const second = Math.floor(at.getTime() / 1000);
  if (second === lastSecond && timeZone === lastZone) return lastFields;
  let formatter = partsFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    partsFormatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(at)) parts[part.type] = part.value;
  lastSecond = second;
  lastZone = timeZone;
  lastFields = {
    date: `${parts['month']}${parts['day']}`,
    time: `${parts['hour']}${parts['minute']}${parts['second']}`,
    businessDate: `${parts['year']}-${parts['month']}-${parts['day']}`,
  };
  return lastFields;
}
