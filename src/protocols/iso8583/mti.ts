// MTI helpers: four digits (version, class, function, origin), e.g. 0200.

import { Iso8583Error } from './errors.ts';

function badMti(detail: string): Iso8583Error {
  return new Iso8583Error({
    field: 0,
    fieldName: 'message type indicator',
    reason: 'bad_mti',
    offset: -1,
    detail,
  });
}

export function isMti(text: string): boolean {
  if (text.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * The MTI that answers a request or an advice: function 0 → 1 (0200 → 0210, 0800 → 0810), 2 → 3
 * (0220 → 0230, 0320 → 0330, 0820 → 0830), 4 → 5; a repeat (odd origin, 0401) is answered as the
 * original (0410). A response MTI has no response: bad_mti.
 */
export function responseMti(mti: string): string {
  if (!isMti(mti)) throw badMti('not four digits');
  const fn = mti.charCodeAt(2) - 48;
  if (fn !== 0 && fn !== 2 && fn !== 4) throw badMti(`${mti} is not a request, advice or notification`);
  const origin = mti.charCodeAt(3) - 48;
  return `${mti.slice(0, 2)}${fn + 1}${origin - (origin & 1)}`;
}

/** Whether the MTI is a response (function digit 1, 3 or 5). */
export function isResponseMti(mti: string): boolean {
  if (!isMti(mti)) return false;
  const fn = mti.charCodeAt(2) - 48;
  return fn === 1 || fn === 3 || fn === 5;
}
