-- Knowledge base. kb_articles holds each article's current state; kb_versions every saved
-- state (with who saved it and why), so history, diff and restore need nothing else.
-- seq is the KB's change counter (kb_state): every change takes the next value, and the
-- search index, which is derived from these tables, catches up on changes by it.

CREATE TABLE kb_state (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO kb_state (id, seq) VALUES (1, 0);

CREATE TABLE kb_articles (
    id          TEXT    PRIMARY KEY,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL DEFAULT '',
    lang        TEXT    NOT NULL,
    tags        TEXT    NOT NULL DEFAULT '[]',
    team        TEXT    NOT NULL DEFAULT '',
    questions   TEXT    NOT NULL DEFAULT '[]',
    details     TEXT    NOT NULL DEFAULT '[]',
    escalate    INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    version     INTEGER NOT NULL,
    author      TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    seq         INTEGER NOT NULL,
    views       INTEGER NOT NULL DEFAULT 0,
    helpful     INTEGER NOT NULL DEFAULT 0,
    not_helpful INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kb_articles_seq ON kb_articles (seq);
CREATE INDEX kb_articles_updated ON kb_articles (updated_at);

CREATE TABLE kb_versions (
    article_id TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    -- what the save did: create, edit, publish, unpublish, restore, delete, import
    action     TEXT    NOT NULL,
    -- the article as it was after the save (JSON of the file fields)
    doc        TEXT    NOT NULL,
    author     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);
