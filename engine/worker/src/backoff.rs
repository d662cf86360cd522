//! The delay before a retryable connector error is tried again.

use std::time::Duration;

/// Exponential backoff with jitter: attempt `n` (1-based) waits `min(base * 2^(n-1), max)`, plus
/// up to `jitter` times that (a random fraction drawn from a source seeded with `seed`, so tests
/// and replays are deterministic).
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// The largest extra fraction added at random: 0.2 adds 0–20 %.
    pub jitter: f64,
    /// Seed of the jitter source.
    pub seed: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED);
        Backoff { base: Duration::from_secs(1), max: Duration::from_secs(300), jitter: 0.2, seed }
    }
}

impl Backoff {
    /// The delay after failed attempt `attempt` (1-based), with `unit` in [0, 1) choosing the jitter.
    pub fn delay(&self, attempt: i64, unit: f64) -> chrono::Duration {
        let exp = u32::try_from(attempt.clamp(1, 31) - 1).unwrap_or(0);
        let plain = self.base.saturating_mul(1u32 << exp).min(self.max);
        let extra = plain.mul_f64((self.jitter * unit.clamp(0.0, 1.0)).max(0.0));
        chrono::Duration::from_std(plain.saturating_add(extra)).unwrap_or(chrono::Duration::MAX)
    }
}

/// splitmix64, scaled to [0, 1): small, seedable and good enough for jitter.
pub(crate) fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl crate::Engine {
    /// A number in [0, 1) from the seeded jitter source.
    pub(crate) fn next_unit(&self) -> f64 {
        match self.rng.lock() {
            Ok(mut state) => splitmix(&mut state),
            Err(_) => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_with_bounded_jitter() {
        let b = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(10), jitter: 0.5, seed: 1 };
        let ms = |a, u| b.delay(a, u).num_milliseconds();
        assert_eq!([ms(1, 0.0), ms(2, 0.0), ms(3, 0.0), ms(4, 0.0), ms(5, 0.0)], [1000, 2000, 4000, 8000, 10_000]);
        assert_eq!(ms(2, 0.5), 2500);
        assert_eq!(ms(100, 0.999), 14_995);
        assert_eq!(ms(0, 0.0), 1000);
    }

    #[test]
    fn the_jitter_source_is_deterministic_per_seed_and_in_range() {
        let draw = |seed: u64| {
            let mut s = seed;
            (0..1000).map(|_| splitmix(&mut s)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        assert!(draw(7).iter().all(|u| (0.0..1.0).contains(u)));
    }
}
