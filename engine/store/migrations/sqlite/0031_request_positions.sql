-- Where an open Request's tokens and incidents are (issue 15: per-element counts at 100,000 open
-- Requests), written with its state by every create and step: the element indexes of its tokens,
-- sorted, then `;` and those of its incidents when it has any (`3,5` or `4;4`); NULL once it is
-- finished. The counts group the open rows of a version by this text through the index alone and
-- expand the few distinct values, instead of parsing every open Request's state. A row written
-- before this column existed has NULL and is counted from its state.
ALTER TABLE requests ADD COLUMN positions TEXT;
DROP INDEX requests_open_by_version;
CREATE INDEX requests_open_by_version ON requests (process_key, process_version, positions) WHERE status IN ('active', 'error');
