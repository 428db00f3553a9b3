-- Issue 8: the rules leave the SQL. From here on the domain decides and queries take its decisions
-- as parameters; these statements only reshape what 0001 stored.

-- R8 without restating the open states in SQL: the domain writes open_resident_id (the person's ID
-- number while the enrollment is open, NULL once it is closed), and a plain unique index on it keeps
-- one open enrollment per person, so concurrent registrations of one person cannot both succeed.
ALTER TABLE enrollments ADD COLUMN open_resident_id text
    CHECK (open_resident_id IS NULL OR open_resident_id = resident_id_number);
UPDATE enrollments SET open_resident_id = resident_id_number WHERE state IN ('PENDING_REVIEW', 'ACTIVE');
DROP INDEX enrollments_one_open_per_person;
CREATE UNIQUE INDEX enrollments_one_open_per_person ON enrollments (open_resident_id);

-- The age-out selection takes the categories and the birth-date cutoff as parameters (R12).
DROP INDEX enrollments_active_minors;
CREATE INDEX enrollments_category_state_birth ON enrollments (category, state, birth_date);

-- One row per person ever seen. Every change about a person (registration, each batch row, approval,
-- an external record) locks it first: row locks, so a chunk of 2,000 persons does not fill the
-- shared lock table the way 2,000 advisory locks would (R8).
CREATE TABLE persons (
    resident_id_number text PRIMARY KEY,
    first_seen_at      timestamptz NOT NULL
);

-- R7a: how long a registration approved after its window closed stays payable after the approval.
ALTER TABLE region_policies ADD COLUMN review_grace_days int NOT NULL DEFAULT 15
    CHECK (review_grace_days BETWEEN 0 AND 366);
