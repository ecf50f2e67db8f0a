-- Retrieval reference numbers (field 37) and network traces come from this sequence, a block of
-- 1,000 per call, so that every node hands out unique references without a round trip per payment.
CREATE SEQUENCE payment_reference_seq INCREMENT BY 1000 MINVALUE 1 START WITH 1 NO CYCLE;
