//! Spaces posts to one channel so a burst of Requests queues here instead of meeting Slack's 429s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

/// One lane per channel: callers take turns in the order they asked (tokio's mutex is fair), and
/// the next turn starts no earlier than `interval` after the previous post was *answered*.
///
/// Counting from the answer rather than from when the post was sent is what makes the spacing
/// hold where Slack measures it: Slack saw post `k` before it answered, and post `k + 1` leaves
/// after that answer plus `interval`, so however late a task wakes or a request travels, two posts
/// never reach Slack closer than `interval`. Slots handed out in advance, `interval` apart, do not
/// have that property: a post that wakes 1 ms late followed by one that wakes on time arrive
/// 1 ms too close, and Slack answers 429 with `Retry-After` of at least a second. The price is the
/// round trip per post on top of the interval.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    /// Per channel: the earliest time the next post may be sent.
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Instant>>>>,
}

/// The right to post to a channel now. Dropping it (after Slack answered) starts the interval.
#[derive(Debug)]
pub(crate) struct Turn {
    lane: Option<OwnedMutexGuard<Instant>>,
    interval: Duration,
}

impl Turn {
    /// Slack asked to wait `wait` before the channel's next post.
    pub(crate) fn hold(&mut self, wait: Duration) {
        if let Some(next) = self.lane.as_mut() {
            **next = (**next).max(Instant::now() + wait);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(next) = self.lane.as_mut() {
            **next = (**next).max(Instant::now() + self.interval);
        }
    }
}

/// Past this many channels, idle lanes are dropped so the map stays small.
const PRUNE_ABOVE: usize = 1024;

impl Pacer {
    pub(crate) fn new(interval: Duration) -> Self {
        Pacer { interval, lanes: Mutex::new(HashMap::new()) }
    }

    /// Waits until this process may post to `channel`; hold the turn until Slack has answered.
    pub(crate) async fn wait(&self, channel: &str) -> Turn {
        if self.interval.is_zero() {
            return Turn { lane: None, interval: self.interval };
        }
        let lane = {
            // A poisoned lock only means another caller panicked mid-update; the map is still usable.
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            if lanes.len() > PRUNE_ABOVE {
                let now = Instant::now();
                // Nobody waits on the lane (only the map holds it) and its interval has passed.
                lanes.retain(|_, lane| Arc::strong_count(lane) > 1 || lane.try_lock().map_or(true, |next| *next > now));
            }
            lanes
                .entry(channel.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Instant::now())))
                .clone()
        };
        let next = lane.lock_owned().await;
        tokio::time::sleep_until(*next).await;
        Turn { lane: Some(next), interval: self.interval }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn posts_are_an_interval_apart_per_channel() {
        let pacer = Pacer::new(Duration::from_millis(200));
        let start = Instant::now();
        for _ in 0..5 {
            drop(pacer.wait("C1").await);
        }
        assert_eq!(start.elapsed(), Duration::from_millis(800));
        // Another channel is not held up by the first.
        let before = Instant::now();
        let mut turn = pacer.wait("C2").await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        turn.hold(Duration::from_secs(2));
        drop(turn);
        drop(pacer.wait("C2").await);
        assert_eq!(before.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_counts_from_the_answer() {
        let pacer = Pacer::new(Duration::from_millis(200));
        let start = Instant::now();
        let turn = pacer.wait("C1").await;
        // Slack takes 50 ms to answer the first post.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(turn);
        drop(pacer.wait("C1").await);
        assert_eq!(start.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_take_turns_in_order() {
        let pacer = Arc::new(Pacer::new(Duration::from_millis(100)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = pacer.wait("C1").await;
                order.lock().unwrap_or_else(|e| e.into_inner()).push((i, Instant::now()));
            }));
            // Each asks a little after the one before.
            tokio::task::yield_now().await;
        }
        for t in tasks {
            assert!(t.await.is_ok());
        }
        let order = order.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ids: Vec<i32> = order.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        for pair in order.windows(2) {
            assert_eq!(pair[1].1 - pair[0].1, Duration::from_millis(100));
        }
    }
}
