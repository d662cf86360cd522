-- Who a task is for (issue 14): the model's assignment evaluated when the task was created,
-- claims, delegation, due dates, and the candidates of open tasks indexed for `candidate=me`.
ALTER TABLE tasks ADD COLUMN process_key TEXT;
ALTER TABLE tasks ADD COLUMN assignee TEXT;
-- JSON arrays of usernames and group names (NULL: none), as shown; `task_candidates` indexes them.
ALTER TABLE tasks ADD COLUMN candidate_users TEXT;
ALTER TABLE tasks ADD COLUMN candidate_groups TEXT;
ALTER TABLE tasks ADD COLUMN due_at BIGINT;
ALTER TABLE tasks ADD COLUMN follow_up_at BIGINT;
ALTER TABLE tasks ADD COLUMN priority BIGINT;
ALTER TABLE tasks ADD COLUMN documentation TEXT;
-- Delegation (Camunda's meaning): the owner handed the task to its assignee, who resolves it back.
ALTER TABLE tasks ADD COLUMN owner TEXT;
ALTER TABLE tasks ADD COLUMN delegation TEXT CHECK (delegation IN ('pending', 'resolved'));
UPDATE tasks SET process_key = (SELECT process_key FROM requests WHERE requests.id = tasks.request_id);

CREATE INDEX tasks_by_assignee ON tasks (assignee, status, created_at, id) WHERE assignee IS NOT NULL;
CREATE INDEX tasks_by_process ON tasks (process_key, status, created_at, id);

-- One row per candidate ('u:<username>' or 'g:<group>') of each task that may be claimed (open
-- and unassigned): deleted when the task is claimed, assigned or closed, written again when it is
-- unclaimed. `candidate=me` reads the caller's keys in primary-key order, whatever the table's size.
CREATE TABLE task_candidates (
    candidate  TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    task_id    TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    token      BIGINT NOT NULL,
    PRIMARY KEY (candidate, created_at, task_id)
);
CREATE INDEX task_candidates_by_token ON task_candidates (request_id, token);
