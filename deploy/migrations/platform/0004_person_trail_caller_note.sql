-- R35, R41: a trail row names the authenticated caller (caller); what the request said of who acts
-- (officer_id, requested_by, caller_id) is kept beside it as a note, never in its place.
ALTER TABLE person_trail ADD COLUMN caller_note text NOT NULL DEFAULT '';
