-- Issue 18 item 8 (R23): `medins person` lists every refund of a payer's payments (ListRefunds with
-- payer_id_number), reached from payments_payer; a refund is found by its payment whatever its state
-- (refunds_one_live_per_payment leaves out the failed ones).
CREATE INDEX refunds_payment ON refunds (payment_id);
