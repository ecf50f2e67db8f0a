// Redaction for anything that leaves the process as text (logs, dumps, error messages): card numbers
// are masked to first 6 + last 4, and fields that carry track data, PINs, CVVs or key material are
// removed whatever their depth.

const SENSITIVE_KEY =
  /^(track[_-]?[123]?(data)?|pin|pin[_-]?block|pinblock|cvv2?|cvc2?|cav2?|icvv|key|keys|clear[_-]?key|key[_-]?material|material|tmk|tpk|tak|zpk|zmk|kek|mac[_-]?key|pin[_-]?key|master[_-]?key|password|passphrase|secret|authorization)$/i;

const PAN_CANDIDATE = /(?<!\d)\d{13,19}(?!\d)/g;

/** Luhn (mod 10) check of a string of digits. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** "6222021000000013" → "622202******0013". */
export function maskPan(pan: string): string {
  if (pan.length < 10) return '*'.repeat(pan.length);
  return `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`;
}

/** Masks every run of 13–19 digits that passes the Luhn check, as a card number would. */
export function maskPansInText(text: string): string {
  if (text.length < 13) return text;
  return text.replace(PAN_CANDIDATE, (digits) => (passesLuhn(digits) ? maskPan(digits) : digits));
}

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/**
 * A copy of `value` safe to log: sensitive keys dropped, card numbers in strings masked. Objects
 * nested deeper than a few levels are cut, and cycles are broken.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return maskPansInText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[cycle]';
  if (depth > 8) return '[deep]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
  if (value instanceof Error) {
    const out: Record<string, unknown> = {
      type: value.name,
      message: maskPansInText(value.message),
    };
    if (value.stack !== undefined) out['stack'] = maskPansInText(value.stack);
    // Only the error's own plain facts (code, constraint, detail …): objects hanging off an error
    // (a database client, a socket) are neither useful in a log line nor safe to walk.
    for (const [key, item] of Object.entries(value)) {
      if (isSensitiveKey(key) || (typeof item === 'object' && item !== null)) continue;
      out[key] = redact(item, depth + 1, seen);
    }
    return out;
  }
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (value instanceof Date) return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return redact((value as { toJSON: () => unknown }).toJSON(), depth + 1, seen);
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (isSensitiveKey(key)) continue;
    out[key] = redact(item, depth + 1, seen);
  }
  return out;
}
