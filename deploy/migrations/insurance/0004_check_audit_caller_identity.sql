-- R35, R41: the enrollment check's audit names the caller's authenticated identity (its certificate);
-- what a request says of its caller (caller_id) is only a note beside it. Records written before this
-- migration name no identity ('').
ALTER TABLE enrollment_check_audit RENAME COLUMN caller_id TO caller_note;
ALTER TABLE enrollment_check_audit ADD COLUMN caller text NOT NULL DEFAULT '';
