-- Telegram updates as the Bot API delivered them, kept until processed. A row is written
-- before the update is confirmed to Telegram (the poll offset moves in the same
-- transaction; a webhook is answered only after the insert), so a crash loses nothing;
-- the primary key drops redelivered update ids. Processed rows keep only their id, for
-- dedupe, and are pruned after two days (Telegram keeps updates for at most one).
CREATE TABLE telegram_updates (
    channel         TEXT    NOT NULL,
    update_id       INTEGER NOT NULL,
    -- the private chat the update belongs to (0 for none): updates of one chat are
    -- processed in order, chats in parallel.
    chat_id         INTEGER NOT NULL DEFAULT 0,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (channel, update_id)
);
CREATE INDEX telegram_updates_pending ON telegram_updates (channel, update_id) WHERE state = 'pending';
CREATE INDEX telegram_updates_age ON telegram_updates (channel, created_at) WHERE state <> 'pending';
