//! A Request's history as stored: one `event_batches` row per state change, its events in order
//! as a JSON array (schema 7), beside the one-row-per-event `events` table of older versions,
//! which is still read.
//!
//! An event's fields at their usual value are left out of the row, which keeps the history (the
//! largest part of what a Request writes) small: `at` when it is the previous event's, `element_id`
//! when there is none, `payload` when it is `{}`. Its position in the array is its order. Rows
//! written before carry every field (and a `seq`, which reading ignores); both read the same.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::types::{EventId, EventRow, RequestId, from_millis};

/// One event to write into a batch.
pub(crate) struct StoredEvent<'a> {
    pub id: String,
    pub at: i64,
    pub kind: &'a str,
    pub element_id: Option<std::borrow::Cow<'a, str>>,
    pub payload: Payload<'a>,
}

/// An event as it is in the row.
#[derive(Serialize)]
struct Wire<'e, 'a> {
    id: &'e str,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    element_id: Option<&'e str>,
    #[serde(skip_serializing_if = "Payload::is_empty")]
    payload: &'e Payload<'a>,
}

/// An event's payload, borrowed from the change or made for the row.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Payload<'a> {
    Borrowed(&'a Map<String, Value>),
    Owned(Value),
}

impl Payload<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Payload::Borrowed(m) => m.is_empty(),
            Payload::Owned(Value::Object(m)) => m.is_empty(),
            Payload::Owned(_) => false,
        }
    }
}

/// One event as read from a batch.
#[derive(Deserialize)]
struct ReadEvent {
    id: String,
    /// Missing: the previous event's.
    at: Option<i64>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    element_id: Option<String>,
    #[serde(default = "empty_payload")]
    payload: Value,
}

fn empty_payload() -> Value {
    Value::Object(Map::new())
}

/// The `events` text of a batch row.
pub(crate) fn batch_text(events: &[StoredEvent<'_>]) -> Result<String, Error> {
    let mut last = None;
    let wire: Vec<Wire<'_, '_>> = events
        .iter()
        .map(|e| {
            let at = (last != Some(e.at)).then_some(e.at);
            last = Some(e.at);
            Wire { id: &e.id, at, kind: e.kind, element_id: e.element_id.as_deref(), payload: &e.payload }
        })
        .collect();
    serde_json::to_string(&wire).map_err(|source| Error::Serialize { what: "history events", source })
}

/// The events of a batch row, in order.
pub(crate) fn read_batch(request_id: RequestId, text: &str) -> Result<Vec<EventRow>, Error> {
    let events: Vec<ReadEvent> = serde_json::from_str(text).map_err(|e| Error::corrupt("history events", e))?;
    let mut last = None;
    events
        .into_iter()
        .map(|e| {
            let at = e.at.or(last).ok_or_else(|| Error::corrupt("history events", "the first event has no time"))?;
            last = Some(at);
            Ok(EventRow {
                id: e.id.parse::<EventId>().map_err(|_| Error::corrupt("event id", "not a UUID"))?,
                request_id,
                at: from_millis("event time", at)?,
                kind: e.kind,
                element_id: e.element_id,
                payload: e.payload,
            })
        })
        .collect()
}
