-- glitch-control-plane schema, PostgreSQL flavour (keep in step with ../sqlite/0001_init.sql).
-- Times are Unix milliseconds; booleans are 0/1 integers (the same in both databases).

-- The one current config version. Every change to projects, keys or policies updates this row
-- first, in the change's own transaction, which also serialises concurrent changes.
CREATE TABLE config_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

-- One row per config version: when and why it changed. `injected_policy` is only ever set by
-- the test-only fault-injection endpoint: an invalid policy JSON pushed with that version.
CREATE TABLE config_versions (
    version BIGINT PRIMARY KEY,
    changed_at BIGINT NOT NULL,
    change TEXT NOT NULL,
    injected_policy TEXT
);

INSERT INTO config_head (id, version, changed_at)
VALUES (1, 1, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));
INSERT INTO config_versions (version, changed_at, change)
VALUES (1, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), 'initial empty configuration');

-- Custom policies, current version (templates are built in and never stored).
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    json TEXT NOT NULL,
    version BIGINT NOT NULL,
    config_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every stored version of every policy (kept when the policy is deleted).
CREATE TABLE policy_versions (
    policy_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    config_version BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (policy_id, version)
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX projects_policy_id ON projects (policy_id);

-- Keys by SHA-256 (lowercase hex) of the whole key string; the key itself is never stored.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_project_id ON api_keys (project_id);

-- Every sensor ever seen and its rollout state. `stream_id` names the stream that last
-- connected, so the end of an older stream cannot mark a reconnected sensor disconnected.
CREATE TABLE sensors (
    sensor_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    build TEXT NOT NULL,
    replica_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    connected BIGINT NOT NULL,
    connected_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    applied_version BIGINT NOT NULL,
    last_ack_at BIGINT,
    last_nack_at BIGINT,
    last_nack_version BIGINT,
    last_nack_error TEXT
);
CREATE INDEX sensors_replica_id ON sensors (replica_id);
