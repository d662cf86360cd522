//! A Request's history as stored: one `event_batches` row per state change, its events in order
//! as a JSON array (schema 7), beside the one-row-per-event `events` table of older versions,
//! which is still read.
//!
//! An event's fields at their usual value are left out of the row, which keeps the history (the
//! largest part of what a Request writes) small: `id` when it is the previous event's plus one (a
//! step's events get consecutive ids, see `Changes::event`), `at` when it is the previous event's,
//! `element_id` when there is none, `payload` when it is `{}`. Its position in the array is its
//! order. Rows written before carry every field (and a `seq`, which reading ignores); both read
//! the same.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sluice_engine::HistoryEvent;

use crate::Error;
use crate::types::{EventId, EventRow, RequestId, from_millis};

/// One event to write into a batch.
pub(crate) struct StoredEvent<'a> {
    pub id: EventId,
    pub at: i64,
    pub element_id: Option<std::borrow::Cow<'a, str>>,
    pub event: std::borrow::Cow<'a, HistoryEvent>,
}

/// An event as it is in the row: `type` and `payload` come from the typed event.
#[derive(Serialize)]
struct Wire<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    element_id: Option<&'e str>,
    #[serde(flatten)]
    event: &'e HistoryEvent,
}

/// One event as read from a batch.
#[derive(Deserialize)]
struct ReadEvent {
    /// Missing: the previous event's plus one.
    #[serde(default)]
    id: Option<String>,
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
    let mut last: Option<(EventId, i64)> = None;
    let wire: Vec<Wire<'_>> = events
        .iter()
        .map(|e| {
            let id = (last.and_then(|(id, _)| id.next()) != Some(e.id)).then(|| e.id.to_string());
            let at = (last.map(|(_, at)| at) != Some(e.at)).then_some(e.at);
            last = Some((e.id, e.at));
            Wire { id, at, element_id: e.element_id.as_deref(), event: &e.event }
        })
        .collect();
    serde_json::to_string(&wire).map_err(|source| Error::Serialize { what: "history events", source })
}

/// The events of a batch row, in order.
pub(crate) fn read_batch(request_id: RequestId, text: &str) -> Result<Vec<EventRow>, Error> {
    let events: Vec<ReadEvent> = serde_json::from_str(text).map_err(|e| Error::corrupt("history events", e))?;
    let mut last: Option<(EventId, i64)> = None;
    events
        .into_iter()
        .map(|e| {
            let id = match e.id {
                Some(text) => text.parse::<EventId>().map_err(|_| Error::corrupt("event id", "not a UUID"))?,
                None => last
                    .and_then(|(id, _)| id.next())
                    .ok_or_else(|| Error::corrupt("history events", "an event without an id has none before it"))?,
            };
            let at = match e.at {
                Some(at) => at,
                None => last
                    .map(|(_, at)| at)
                    .ok_or_else(|| Error::corrupt("history events", "the first event has no time"))?,
            };
            last = Some((id, at));
            Ok(EventRow {
                id,
                request_id,
                at: from_millis("event time", at)?,
                kind: e.kind,
                element_id: e.element_id,
                payload: e.payload,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(id: EventId, at: i64, event: HistoryEvent, element: Option<&'static str>) -> StoredEvent<'static> {
        StoredEvent { id, at, element_id: element.map(Into::into), event: std::borrow::Cow::Owned(event) }
    }

    #[test]
    fn a_row_leaves_out_what_follows_from_the_event_before_and_reads_back_whole() {
        let first = EventId::first_of_run();
        let second = first.next().unwrap();
        let third = second.next().unwrap();
        let other = EventId::new();
        let events = [
            event(first, 1000, HistoryEvent::RequestStarted { process_key: "p".into(), process_version: None }, None),
            event(second, 1000, HistoryEvent::ElementActivated, Some("start")),
            event(third, 1001, HistoryEvent::ElementCompleted, Some("start")),
            event(other, 1001, HistoryEvent::TaskCompleted { task_id: None, token: Some(1) }, Some("t")),
        ];
        let text = batch_text(&events).unwrap();
        // Only the first id and the one that does not follow on are written; the time twice.
        assert_eq!(text.matches("\"id\"").count(), 2, "{text}");
        assert_eq!(text.matches("\"at\"").count(), 2, "{text}");
        assert!(!text.contains("null") && !text.contains("{}"), "{text}");

        let request = RequestId::new();
        let read = read_batch(request, &text).unwrap();
        let seen: Vec<_> = read.iter().map(|e| (e.id, e.at.timestamp_millis(), e.kind.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                (first, 1000, "request_started"),
                (second, 1000, "element_activated"),
                (third, 1001, "element_completed"),
                (other, 1001, "task_completed")
            ]
        );
        assert_eq!(read[1].payload, serde_json::json!({}));
        assert_eq!(read[0].element_id, None);
        assert!(read.iter().all(|e| e.request_id == request));
    }

    #[test]
    fn a_run_of_ids_stays_uuid_v7() {
        let first = EventId::first_of_run();
        let mut id = first;
        for _ in 0..1000 {
            id = id.next().unwrap();
            assert_eq!(id.0.get_version_num(), 7);
            assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
        }
        assert_eq!(first.next().unwrap().prev(), Some(first));
        // At the end of `rand_b` a run stops instead of spilling into the variant bits.
        let last = EventId(uuid::Uuid::from_u128(first.0.as_u128() | ((1 << 62) - 1)));
        assert_eq!(last.next(), None);
        let zero = EventId(uuid::Uuid::from_u128(first.0.as_u128() & !((1 << 62) - 1)));
        assert_eq!(zero.prev(), None);
    }

    #[test]
    fn a_row_of_schema_7_reads_with_its_seq_ignored() {
        let text = r#"[{"id":"0190b4c4-0000-7000-8000-0000000000e1","seq":0,"at":5,"type":"x","element_id":null,"payload":{}}]"#;
        let read = read_batch(RequestId::new(), text).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].at.timestamp_millis(), 5);
        // A row whose first event has no id or no time is corrupt, not a panic.
        assert!(read_batch(RequestId::new(), r#"[{"at":5,"type":"x"}]"#).is_err());
        assert!(read_batch(RequestId::new(), r#"[{"id":"0190b4c4-0000-7000-8000-0000000000e1","type":"x"}]"#).is_err());
    }
}
