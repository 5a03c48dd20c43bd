-- The customer's own messages of each conversation, in order, with their text: what
-- routing looks up (the unrouted ones) and the bot looks back at (CustomerHistory) on
-- every turn. Messages are stored in arrival order across all conversations, so one
-- conversation's rows sit on as many table pages as it has messages, and under group
-- commit every read starts with an empty page cache (in WAL mode a connection drops its
-- cache whenever another committed): reading ten of them through the (conversation_id,
-- seq) index cost a table descent per row, bot replies included — 8 % of the server's
-- CPU at 500 turns/s. Here one conversation's customer messages are adjacent, and the
-- history is read from the index alone. sender and internal are in the key although the
-- WHERE fixes them: SQLite otherwise reads each row to check the terms the index implies.
CREATE INDEX messages_customer ON messages (conversation_id, seq, text, sender, internal)
    WHERE sender = 'user' AND internal = 0;
