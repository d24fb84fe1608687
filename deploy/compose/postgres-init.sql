-- Runs once, when the PostgreSQL volume is created: the control plane uses the database
-- glitch_cp (POSTGRES_DB), the audit consumer's index lives next to it in glitch_audit.
CREATE DATABASE glitch_audit OWNER glitch;
