//! A Request's history as stored: one `event_batches` row per state change, its events in order
//! as a JSON array (schema 7), beside the one-row-per-event `events` table of older versions,
//! which is still read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::types::{EventId, EventRow, RequestId, from_millis};

/// One event as written into a batch.
#[derive(Serialize)]
pub(crate) struct StoredEvent<'a> {
    pub id: String,
    pub seq: i64,
    pub at: i64,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub element_id: Option<std::borrow::Cow<'a, str>>,
    pub payload: Payload<'a>,
}

/// An event's payload, borrowed from the change or made for the row.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Payload<'a> {
    Borrowed(&'a Map<String, Value>),
    Owned(Value),
}

/// One event as read from a batch.
#[derive(Deserialize)]
struct ReadEvent {
    id: String,
    at: i64,
    #[serde(rename = "type")]
    kind: String,
    element_id: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// The `events` text of a batch row.
pub(crate) fn batch_text(events: &[StoredEvent<'_>]) -> Result<String, Error> {
    serde_json::to_string(events).map_err(|source| Error::Serialize { what: "history events", source })
}

/// The events of a batch row, in order.
pub(crate) fn read_batch(request_id: RequestId, text: &str) -> Result<Vec<EventRow>, Error> {
    let events: Vec<ReadEvent> = serde_json::from_str(text).map_err(|e| Error::corrupt("history events", e))?;
    events
        .into_iter()
        .map(|e| {
            Ok(EventRow {
                id: e.id.parse::<EventId>().map_err(|_| Error::corrupt("event id", "not a UUID"))?,
                request_id,
                at: from_millis("event time", e.at)?,
                kind: e.kind,
                element_id: e.element_id,
                payload: e.payload,
            })
        })
        .collect()
}
