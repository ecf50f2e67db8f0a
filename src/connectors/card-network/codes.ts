// Response codes (field 39) the simulated issuer answers, and the reason each decline carries in a
// NetworkOutcome. The ISO 8583 link maps the codes an upstream switch answers through the same table.

/** Declines, in the order the simulated issuer checks them (the first that applies is answered). */
export const DECLINE_REASONS = {
  '94': 'duplicate_transmission', // the reference was used by another message
  '12': 'invalid_transaction', // original already voided / refunded / completed, or reversed before it arrived
  '14': 'invalid_card_number', // no such card
  '41': 'lost_card',
  '43': 'stolen_card',
  '54': 'expired_card',
  '75': 'pin_tries_exceeded', // third wrong PIN of the day, and every PIN message for the rest of that day
  '99': 'pin_format_error', // the PIN block is not ISO 9564 format 0 for this PAN under the zone PIN key
  '55': 'incorrect_pin',
  '13': 'invalid_amount', // zero, or not the card's currency
  '61': 'exceeds_amount_limit', // above the card's per-transaction limit
  '25': 'original_not_found', // void, refund, completion or their voids: no approved original for this card
  '64': 'original_amount_incorrect', // void of another amount, refund above what is left, completion above the hold + tolerance
  '51': 'insufficient_funds',
  '96': 'system_malfunction', // the issuer could not record the message (nothing moved)
} as const;

export type DeclineCode = keyof typeof DECLINE_REASONS;
export type DeclineReason = (typeof DECLINE_REASONS)[DeclineCode];

/** Other codes a network may answer, for the link's reasons. */
const OTHER_REASONS: Readonly<Record<string, string>> = {
  '03': 'invalid_merchant',
  '05': 'do_not_honour',
  '30': 'format_error',
  '40': 'function_not_supported',
  '57': 'not_permitted_to_cardholder',
  '58': 'not_permitted_to_terminal',
  '65': 'exceeds_frequency_limit',
  '90': 'cut_off_in_progress',
  '91': 'issuer_unavailable',
  '98': 'no_answer_from_issuer',
};

/** The reason of a response code: `insufficient_funds` for 51, `response_XX` for a code not listed. */
export function reasonOf(responseCode: string): string {
  return (
    (DECLINE_REASONS as Readonly<Record<string, string>>)[responseCode] ??
    OTHER_REASONS[responseCode] ??
    `response_${responseCode}`
  );
}
