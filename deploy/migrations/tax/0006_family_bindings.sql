-- R46: a family mutual-aid account (家庭共济账户) pays only for the members bound to it (绑定家庭共济关系).
-- The holder's row names them as they bound (ID number and name, R18) and serialises their bindings; the
-- balance and its ledger (family_accounts, family_account_entries) are unchanged and need not exist yet:
-- the insurance bureau may report the balance after the family has bound.
CREATE TABLE family_holders (
    holder_id_number text PRIMARY KEY,
    holder_name      text        NOT NULL,
    created_at       timestamptz NOT NULL
);

CREATE TABLE family_members (
    holder_id_number text        NOT NULL REFERENCES family_holders,
    member_id_number text        NOT NULL,
    member_name      text        NOT NULL,
    relationship     text        NOT NULL CHECK (relationship IN ('PARENT', 'SPOUSE', 'CHILD', 'OTHER_RELATIVE')),
    bound_at         timestamptz NOT NULL,
    PRIMARY KEY (holder_id_number, member_id_number),
    CHECK (member_id_number <> holder_id_number)
);
