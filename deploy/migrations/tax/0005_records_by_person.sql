-- Payment records by insured person (R26) read a person's items through an index whatever their status:
-- the one-live-item index is partial (not CANCELLED) and does not serve a plain person lookup, so the
-- query fell back to scanning payments, a cost that grew with every payment (found by the soak, issue 12).
CREATE INDEX payable_items_person ON payable_items (resident_id_number);
