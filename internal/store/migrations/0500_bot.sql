-- Embeddings of KB articles for the bot's semantic ranking (optional LLM). Keyed by
-- model and a hash of the embedded text, so an unchanged article is never embedded
-- twice and a changed one gets a new row; vectors are little-endian float32.
CREATE TABLE bot_embeddings (
    model      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    dims       INTEGER NOT NULL,
    vector     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (model, key)
);
