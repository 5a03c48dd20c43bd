-- Core conversation model. Times are unix milliseconds (INTEGER) so comparisons and
-- ordering work the same in SQLite and PostgreSQL; JSON values are TEXT.

CREATE TABLE contacts (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL,
    external_id        TEXT    NOT NULL,
    name               TEXT    NOT NULL DEFAULT '',
    email              TEXT    NOT NULL DEFAULT '',
    verified           INTEGER NOT NULL DEFAULT 0,
    attributes         TEXT    NOT NULL DEFAULT '{}',
    unreachable        INTEGER NOT NULL DEFAULT 0,
    unreachable_reason TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (channel, external_id)
);

CREATE TABLE conversations (
    id                 INTEGER PRIMARY KEY,
    contact_id         INTEGER NOT NULL REFERENCES contacts (id),
    channel            TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('bot', 'queued', 'assigned', 'closed')),
    team               TEXT    NOT NULL DEFAULT '',
    priority           INTEGER NOT NULL DEFAULT 0,
    language           TEXT    NOT NULL DEFAULT '',
    details            TEXT    NOT NULL DEFAULT '{}',
    meta               TEXT    NOT NULL DEFAULT '{}',
    assignee_id        INTEGER NOT NULL DEFAULT 0,
    last_seq           INTEGER NOT NULL DEFAULT 0,
    last_user_seq      INTEGER NOT NULL DEFAULT 0,
    handled_seq        INTEGER NOT NULL DEFAULT 0,
    bot_state          TEXT,
    -- set by the bot's turn, cleared by the handoff when it enqueues: an escalation
    -- that was decided but not yet enqueued when the process stopped is redone at start.
    pending_escalation TEXT,
    csat_pending       INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    closed_at          INTEGER
);
CREATE INDEX conversations_contact ON conversations (contact_id, id);
CREATE INDEX conversations_status ON conversations (status);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    sender          TEXT    NOT NULL CHECK (sender IN ('user', 'bot', 'agent', 'system')),
    sender_id       INTEGER NOT NULL DEFAULT 0,
    sender_name     TEXT    NOT NULL DEFAULT '',
    text            TEXT    NOT NULL DEFAULT '',
    html            TEXT    NOT NULL DEFAULT '',
    attachments     TEXT,
    quick_replies   TEXT,
    payload         TEXT    NOT NULL DEFAULT '',
    channel         TEXT    NOT NULL,
    -- the channel's own id; NULL for our own messages. Unique per channel: the dedupe key.
    external_id     TEXT,
    internal        INTEGER NOT NULL DEFAULT 0,
    edited          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (channel, external_id)
);

-- Outbound delivery. A row is written in the same transaction as its message; the
-- delivery loop removes it from 'pending' only once the channel confirmed it.
CREATE TABLE outbox (
    message_id      INTEGER PRIMARY KEY REFERENCES messages (id),
    conversation_id INTEGER NOT NULL,
    channel         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    external_id     TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (message_id) WHERE state = 'pending';

-- Dedupe keys for deliveries that do not become messages (WeChat events, Telegram
-- callback queries); pruned after a retention window.
CREATE TABLE dedupe (
    channel    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
);
CREATE INDEX dedupe_age ON dedupe (created_at);

-- Small per-channel facts that must survive a restart (Telegram offset, WeCom cursor).
CREATE TABLE channel_state (
    channel    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
);

-- One row per triage decision: why the bot did what it did. Gaps feed the KB editor.
CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    message_id      INTEGER NOT NULL DEFAULT 0,
    action          TEXT    NOT NULL,
    article_id      TEXT    NOT NULL DEFAULT '',
    score           REAL    NOT NULL DEFAULT 0,
    reason          TEXT    NOT NULL DEFAULT '',
    query           TEXT    NOT NULL DEFAULT '',
    language        TEXT    NOT NULL DEFAULT '',
    gap             INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
CREATE INDEX decisions_gap ON decisions (gap, created_at);
CREATE INDEX decisions_conversation ON decisions (conversation_id);
