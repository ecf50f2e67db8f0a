import type { Outcome } from './types.ts';

// What a network's ISO 8583 response code means to Tillpoint: one table, in code order.
const FROM_NETWORK: Readonly<Record<string, Outcome>> = {
  '00': 'approved',
  '03': 'invalid_merchant',
  '05': 'do_not_honour',
  '12': 'invalid_transaction',
  '13': 'invalid_amount',
  '14': 'invalid_card',
  '25': 'original_not_found',
  '30': 'format_error',
  '40': 'not_supported',
  '41': 'lost_card',
  '43': 'stolen_card',
  '51': 'insufficient_funds',
  '54': 'expired_card',
  '55': 'pin_incorrect',
  '57': 'not_permitted_card',
  '58': 'not_permitted_terminal',
  '61': 'amount_limit',
  '64': 'original_amount_incorrect',
  '65': 'frequency_limit',
  '75': 'pin_tries_exceeded',
  '94': 'duplicate',
  '96': 'system_error',
  '99': 'pin_format_error',
};

/** A network's decline code as an outcome; a code Tillpoint does not know is "do not honour". */
export function outcomeOfNetworkCode(code: string): Outcome {
  const outcome = FROM_NETWORK[code];
  return outcome === undefined || outcome === 'approved' ? 'do_not_honour' : outcome;
}

/** The card organization of a PAN by its BIN, as slips and field 63 name it. */
export function cardOrganization(pan: string): string {
  if (pan.startsWith('62') || pan.startsWith('60') || pan.startsWith('9')) return 'CUP';
  if (pan.startsWith('4')) return 'VIS';
  if (/^(5[1-5]|2[2-7])/.test(pan)) return 'MCC';
  if (pan.startsWith('35')) return 'JCB';
  if (pan.startsWith('34') || pan.startsWith('37')) return 'AEX';
  return 'CUP';
}

/** Domestic cards count in the first half of the settlement totals, the others in the second. */
export function isDomestic(cardOrganization: string | null): boolean {
  return cardOrganization === null || cardOrganization === 'CUP';
}

/** The ISO 8583 response code (field 39) of an outcome: the one place this mapping is written. */
export function responseCodeOf(outcome: Outcome): string {
  switch (outcome) {
    case 'approved':
      return '00';
    case 'invalid_merchant':
      return '03';
    case 'do_not_honour':
      return '05';
    case 'invalid_transaction':
      return '12';
    case 'invalid_amount':
      return '13';
    case 'invalid_card':
      return '14';
    case 'original_not_found':
      return '25';
    case 'format_error':
      return '30';
    case 'not_supported':
      return '40';
    case 'lost_card':
      return '41';
    case 'stolen_card':
      return '43';
    case 'insufficient_funds':
      return '51';
    case 'expired_card':
      return '54';
    case 'pin_incorrect':
      return '55';
    case 'not_permitted_card':
      return '57';
    case 'not_permitted_terminal':
      return '58';
    case 'amount_limit':
      return '61';
    case 'original_amount_incorrect':
      return '64';
    case 'frequency_limit':
      return '65';
    case 'pin_tries_exceeded':
      return '75';
    case 'sign_in_required':
      return '77';
    case 'cut_off':
      return '90';
    case 'duplicate':
      return '94';
    case 'system_error':
      return '96';
    case 'terminal_not_registered':
      return '97';
    case 'network_no_answer':
      return '98';
    case 'pin_format_error':
      return '99';
    case 'mac_failed':
      return 'A0';
  }
}

const FROM_RESPONSE_CODE: ReadonlyMap<string, Outcome> = new Map(
  (
    [
      'approved',
      'invalid_merchant',
      'do_not_honour',
      'invalid_transaction',
      'invalid_amount',
      'invalid_card',
      'original_not_found',
      'format_error',
      'not_supported',
      'lost_card',
      'stolen_card',
      'insufficient_funds',
      'expired_card',
      'pin_incorrect',
      'not_permitted_card',
      'not_permitted_terminal',
      'amount_limit',
      'original_amount_incorrect',
      'frequency_limit',
      'pin_tries_exceeded',
      'sign_in_required',
      'cut_off',
      'duplicate',
      'system_error',
      'terminal_not_registered',
      'network_no_answer',
      'pin_format_error',
      'mac_failed',
    ] as const
  ).map((outcome) => [responseCodeOf(outcome), outcome]),
);

/** The outcome a recorded response code stands for (to answer a retransmission as the first time). */
export function outcomeOfResponseCode(code: string): Outcome {
  return FROM_RESPONSE_CODE.get(code) ?? 'system_error';
}
