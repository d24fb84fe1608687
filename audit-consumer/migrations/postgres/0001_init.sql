-- glitch-audit-consumer index, PostgreSQL flavour (keep in step with ../sqlite/0001_init.sql).
-- Times are Unix milliseconds. Booleans are BOOLEAN. Text is COLLATE "C" (byte order, like
-- SQLite's BINARY: the same sort order on both databases, and fast index comparisons).

-- One row per SecurityEvent, idempotent by event_id. `body` is the event's protobuf bytes as
-- read from the log, zstd-compressed (see src/body.rs; GET /v1/events/{id} decodes
-- it); the other columns are copies of fields used for filtering and ordering (long text values
-- are cut to fit an index entry).
CREATE TABLE events (
    event_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL,
    sensor_id TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    method TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    stream BOOLEAN NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    status BIGINT NOT NULL,
    upstream_status BIGINT NOT NULL,
    blocked BOOLEAN NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    latency_total_ms DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL
);
-- The body is compressed already: no TOAST compression attempt, and rows up to a whole page
-- stay in the heap (no out-of-line TOAST rows and TOAST index entries for 2-10 KB events).
ALTER TABLE events ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE events SET (toast_tuple_target = 8160);

-- GET /v1/events (newest first), with and without each filter; retention (oldest first).
CREATE INDEX events_time ON events (time_ms, event_id);
CREATE INDEX events_project_time ON events (project_id, time_ms, event_id);
CREATE INDEX events_session_time ON events (session_id, time_ms, event_id);
CREATE INDEX events_path_time ON events (path, time_ms, event_id);
CREATE INDEX events_decision_time ON events (decision, time_ms, event_id);
CREATE INDEX events_status_time ON events (status, time_ms, event_id);

-- The detector types of each event's findings (one row per distinct type), for
-- GET /v1/events?detector_type=; time and project are copied here so that filter pages in order.
CREATE TABLE event_detectors (
    detector_type TEXT COLLATE "C" NOT NULL,
    time_ms BIGINT NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (detector_type, time_ms, event_id)
);
CREATE INDEX event_detectors_time ON event_detectors (time_ms);

-- Sessions: totals over the events indexed with a non-empty session_id.
CREATE TABLE sessions (
    project_id TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    blocked BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX sessions_last_seen ON sessions (last_seen, project_id, session_id);
CREATE INDEX sessions_project_last_seen ON sessions (project_id, last_seen, session_id);

-- The distinct models of each session.
CREATE TABLE session_models (
    project_id TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (project_id, session_id, model)
);

-- Records that could not be indexed (undecodable, no event_id, corrupt in the log). One row per
-- (source, partition, position), so a replayed record is not dead-lettered twice.
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT COLLATE "C" NOT NULL,
    partition BIGINT NOT NULL,
    position TEXT COLLATE "C" NOT NULL,
    record_key BYTEA,
    raw BYTEA NOT NULL,
    raw_len BIGINT NOT NULL,
    error TEXT COLLATE "C" NOT NULL,
    received_ms BIGINT NOT NULL,
    UNIQUE (source, partition, position)
);
CREATE INDEX dead_letters_received ON dead_letters (received_ms);

-- Where a file source has read up to, written in the same transaction as the events it covers.
CREATE TABLE consumer_positions (
    source TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    position TEXT COLLATE "C" NOT NULL,
    updated_ms BIGINT NOT NULL
);
