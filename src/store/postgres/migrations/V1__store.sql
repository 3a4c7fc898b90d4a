-- The PostgreSQL store: the tables of the SQLite store with PostgreSQL's types, so that
-- `canvass store copy` moves every row unchanged. Integers are BIGINT (Rust's i64), flags
-- 0 or 1 as in SQLite, times RFC 3339 text as everywhere in canvass.

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,
    survey      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    rule        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    locale      TEXT NOT NULL,
    segments    TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    reply       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (survey, rule, recipient, seq)
);
CREATE INDEX deliveries_recipient ON deliveries (recipient, created_at);
CREATE INDEX deliveries_rule_status ON deliveries (survey, rule, status);

CREATE TABLE response_origins (
    id              BIGSERIAL PRIMARY KEY,
    survey          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition_hash TEXT NOT NULL,
    channel         TEXT NOT NULL,
    source          TEXT NOT NULL,
    rule            TEXT,
    UNIQUE NULLS NOT DISTINCT (survey, version, definition_hash, channel, source, rule)
);

-- Ids come from `response_rows_id`, taken before the rows are written so that a batch can
-- plan with them; `key_hash` is the SQLite store's key table folded into the row.
CREATE TABLE response_rows (
    id              BIGINT PRIMARY KEY,
    origin          BIGINT NOT NULL REFERENCES response_origins (id),
    key_hash        BIGINT NOT NULL,
    response_key    TEXT NOT NULL,
    confirmed       BIGINT NOT NULL,
    locale          TEXT,
    submitted_at    TEXT NOT NULL,
    complete        BIGINT NOT NULL,
    counts          BIGINT NOT NULL,
    answers         TEXT NOT NULL,
    segments        TEXT NOT NULL DEFAULT '{}'
);
CREATE SEQUENCE response_rows_id OWNED BY response_rows.id;
CREATE INDEX response_rows_key ON response_rows (key_hash) WHERE counts = 1;
CREATE INDEX response_rows_response_key ON response_rows (response_key);

CREATE VIEW responses AS
SELECT r.id, o.survey, o.version, o.definition_hash, r.response_key, o.channel, o.source,
       o.rule, r.locale, r.submitted_at, r.confirmed, r.complete, r.counts, r.answers,
       r.segments
FROM response_rows AS r JOIN response_origins AS o ON o.id = r.origin;

CREATE TABLE imports (
    digest      TEXT PRIMARY KEY,
    survey      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE suppressions (
    recipient   TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE link_fetches (
    id          BIGSERIAL PRIMARY KEY,
    delivery    TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    question    TEXT,
    value       TEXT
);
CREATE INDEX link_fetches_delivery ON link_fetches (delivery);

CREATE TABLE survey_definitions (
    survey          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition_hash TEXT NOT NULL,
    definition      TEXT NOT NULL,
    first_seen      TEXT NOT NULL,
    PRIMARY KEY (survey, version)
);

CREATE TABLE store_meta (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE TABLE erasures (
    erased_at   TEXT NOT NULL,
    people      BIGINT NOT NULL,
    deliveries  BIGINT NOT NULL,
    responses   BIGINT NOT NULL
);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    survey          TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    target          TEXT NOT NULL,
    address         TEXT NOT NULL,
    response        BIGINT NOT NULL,
    payload         TEXT NOT NULL,
    contact         TEXT,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    leased_until    BIGINT,
    leased_by       BIGINT,
    last_reply      TEXT,
    delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_response ON outbox (response);
