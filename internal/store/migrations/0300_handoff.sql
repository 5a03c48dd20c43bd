-- People and the queue: accounts (agents, editors, admins), their sessions, one ticket
-- per escalated conversation (SLA clock, outcome, rating) and canned responses. The
-- conversation row keeps status, team, priority and assignee; claims are conditional
-- UPDATEs of it, so two agents claiming at once cannot both win.

CREATE TABLE accounts (
    id                   INTEGER PRIMARY KEY,
    email                TEXT    NOT NULL UNIQUE, -- lower-cased
    name                 TEXT    NOT NULL,
    password_hash        TEXT    NOT NULL,
    roles                TEXT    NOT NULL DEFAULT '[]',
    teams                TEXT    NOT NULL DEFAULT '[]',
    max_chats            INTEGER NOT NULL DEFAULT 0,
    disabled             INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_login_at        INTEGER
);

-- id is the SHA-256 of the cookie token: a copy of the database signs nobody in.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    csrf       TEXT    NOT NULL,
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE tickets (
    conversation_id            INTEGER PRIMARY KEY REFERENCES conversations (id),
    team                       TEXT    NOT NULL,
    tier                       TEXT    NOT NULL DEFAULT 'basic',
    reason                     TEXT    NOT NULL DEFAULT '',
    escalation                 TEXT    NOT NULL DEFAULT '{}',
    offline                    INTEGER NOT NULL DEFAULT 0,
    contact_email              TEXT    NOT NULL DEFAULT '',
    escalated_at               INTEGER NOT NULL,
    queued_at                  INTEGER NOT NULL,
    first_response_due         INTEGER NOT NULL,
    resolution_due             INTEGER NOT NULL,
    assigned_at                INTEGER,
    first_response_at          INTEGER,
    closed_at                  INTEGER,
    first_response_breached_at INTEGER,
    resolution_breached_at     INTEGER,
    resolution                 TEXT    NOT NULL DEFAULT '',
    tags                       TEXT    NOT NULL DEFAULT '[]',
    closed_by                  INTEGER NOT NULL DEFAULT 0,
    rating                     INTEGER NOT NULL DEFAULT 0,
    rating_comment             TEXT    NOT NULL DEFAULT '',
    rated_at                   INTEGER,
    unread                     INTEGER NOT NULL DEFAULT 0,
    notice_position            INTEGER NOT NULL DEFAULT 0,
    notice_at                  INTEGER NOT NULL DEFAULT 0,
    transfers                  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_open ON tickets (closed_at, first_response_due);
CREATE INDEX tickets_rated ON tickets (rated_at);

-- The queue is read by status and team; assignments by assignee.
CREATE INDEX conversations_queue ON conversations (status, team);
CREATE INDEX conversations_assignee ON conversations (assignee_id, status);

-- Canned responses: team '' is shared by every team. "/shortcut" in the composer.
CREATE TABLE canned_responses (
    id         INTEGER PRIMARY KEY,
    team       TEXT    NOT NULL DEFAULT '',
    shortcut   TEXT    NOT NULL,
    title      TEXT    NOT NULL DEFAULT '',
    body       TEXT    NOT NULL,
    created_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (team, shortcut)
);
