-- The tickets waiting in each team's queue, in queue order, so a customer's place is
-- counted from the index alone (Store.QueuePosition): with thousands waiting, counting
-- through the conversations took two row lookups per waiting customer. A ticket waits
-- while it is neither assigned nor closed, which is exactly while its conversation is
-- queued (enqueue and requeue clear assigned_at; assign sets it; close sets closed_at).
-- The two always-NULL columns at the end make the index cover the count: SQLite would
-- otherwise read each row to check the WHERE terms the index already implies.
CREATE INDEX tickets_waiting ON tickets (team, first_response_due, queued_at, assigned_at, closed_at)
    WHERE assigned_at IS NULL AND closed_at IS NULL;
