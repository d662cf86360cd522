//! Spaces posts to one channel so a burst of Requests queues here instead of meeting Slack's 429s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out send times per channel, at least `interval` apart. Callers reserve a slot and sleep
/// until it, so waiting callers are served in the order they asked.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

/// Past this many channels, entries whose slot has passed are dropped so the map stays small.
const PRUNE_ABOVE: usize = 1024;

impl Pacer {
    pub(crate) fn new(interval: Duration) -> Self {
        Pacer { interval, next: Mutex::new(HashMap::new()) }
    }

    /// Waits until this process may post to `channel` again.
    pub(crate) async fn wait(&self, channel: &str) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            // A poisoned lock only means another caller panicked mid-update; the map is still usable.
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if next.len() > PRUNE_ABOVE {
                next.retain(|_, at| *at > now);
            }
            let slot = next.get(channel).map_or(now, |at| (*at).max(now));
            next.insert(channel.to_string(), slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Moves the channel's next slot to at least `at` (after Slack said to wait).
    pub(crate) fn hold(&self, channel: &str, wait: Duration) {
        let at = Instant::now() + wait;
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let entry = next.entry(channel.to_string()).or_insert(at);
        *entry = (*entry).max(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_an_interval_apart_per_channel() {
        let pacer = Pacer::new(Duration::from_millis(200));
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait("C1").await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(800));
        // Another channel is not held up by the first.
        let before = Instant::now();
        pacer.wait("C2").await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        pacer.hold("C2", Duration::from_secs(2));
        pacer.wait("C2").await;
        assert_eq!(before.elapsed(), Duration::from_secs(2));
    }
}
