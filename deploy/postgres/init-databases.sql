-- Runs once, when the compose PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- One database per agency: insurance (registration, enrollment check) and tax (collection). Neither
-- agency's processes read the other's database; ops.setup migrates both.
CREATE DATABASE medins_insurance;
CREATE DATABASE medins_tax;
