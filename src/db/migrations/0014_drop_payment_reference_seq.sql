-- References towards the network (RRN, STAN) are derived from the request's key since the payments
-- module stopped drawing them from a counter (src/payments/references.ts): the sequence of 0006 has
-- no user left.
DROP SEQUENCE IF EXISTS payment_reference_seq;
