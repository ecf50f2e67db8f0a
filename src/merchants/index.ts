// The merchants module (the part the terminal host needs now): merchants, their status and limits,
// and their operators. Applications, reviews and contracts come with onboarding.
export {
  type CreateMerchantInput,
  type Merchant,
  type MerchantStatus,
  Merchants,
  type Operator,
} from './merchants.ts';
