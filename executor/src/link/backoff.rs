//! Reconnect policy: after `failures` consecutive failed dials or lost
//! streams the link waits 100 ms doubling up to 5 s, jittered so that many
//! executors losing one scheduler do not all redial at the same instant.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first reconnect delay; it doubles per failure up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The wait before the next dial after `failures` consecutive failures:
/// 100 ms doubling up to 5 s, scaled by a jitter in `[0.5, 1]`
/// (`jitter` is in `[0, 1)`).
pub fn backoff_delay(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let ceiling = INITIAL_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)` (std's randomly keyed hasher; no rand crate).
pub fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_to_5s_and_is_jittered() {
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(2, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(7, 0.0), Duration::from_millis(2500));
        assert_eq!(backoff_delay(8, 0.0), Duration::from_millis(2500));
        assert_eq!(backoff_delay(1000, 1.0), MAX_BACKOFF);
        for _ in 0..100 {
            let jitter = random_unit();
            assert!((0.0..1.0).contains(&jitter));
        }
    }
}
