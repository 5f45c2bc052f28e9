//! A pool's recent load, kept by the leader's dispatcher: how long ready
//! instances waited in its queue before being placed, and how many attempts
//! its executors finished, over the last minute, in one-second buckets.
//! Waits go into a log-scale histogram (four buckets per doubling), so a
//! percentile is exact to within a fifth, and recording one costs a few
//! instructions, which matters at tens of thousands of placements a second.

use std::collections::VecDeque;

/// How far back the figures reach.
pub const WINDOW_MS: u64 = 60_000;
const BUCKETS: usize = 112;

#[derive(Clone)]
struct Second {
    at: u64,
    placed: u64,
    completed: u64,
    waits: [u32; BUCKETS],
}

#[derive(Clone, Default)]
pub struct PoolStats {
    seconds: VecDeque<Second>,
    /// Since this leadership began (what a Prometheus counter reports).
    placed_total: u64,
    completed_total: u64,
}

/// A pool's figures over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub placed: u64,
    pub completed: u64,
    /// Attempts finished per second, over the window (or since the first).
    pub completed_per_s: f64,
    pub wait_p50_ms: u64,
    pub wait_p99_ms: u64,
    /// Placed and finished since this leadership began.
    pub placed_total: u64,
    pub completed_total: u64,
}

fn bucket(wait_ms: u64) -> usize {
    if wait_ms == 0 {
        return 0;
    }
    // 4 * log2(wait) rounded down, from the top bit and the next two.
    let top = 63 - wait_ms.leading_zeros() as u64;
    let fraction = if top >= 2 {
        (wait_ms >> (top - 2)) & 0b11
    } else {
        (wait_ms << (2 - top)) & 0b11
    };
    ((1 + top * 4 + fraction) as usize).min(BUCKETS - 1)
}

/// The largest wait a bucket holds (what a percentile reports).
fn bucket_top(bucket: usize) -> u64 {
    if bucket == 0 {
        return 0;
    }
    let step = bucket as u64 - 1;
    let (top, fraction) = (step / 4, step % 4);
    // Values with this top bit and these next two bits, up to the next step.
    let base = (4 + fraction) << top >> 2;
    let next = (4 + fraction + 1) << top >> 2;
    next.max(base + 1) - 1
}

impl PoolStats {
    fn second(&mut self, now_ms: u64) -> &mut Second {
        let at = now_ms / 1000;
        while self
            .seconds
            .front()
            .is_some_and(|s| s.at * 1000 + WINDOW_MS <= now_ms)
        {
            self.seconds.pop_front();
        }
        if self.seconds.back().is_none_or(|s| s.at < at) {
            self.seconds.push_back(Second {
                at,
                placed: 0,
                completed: 0,
                waits: [0; BUCKETS],
            });
        }
        self.seconds.back_mut().expect("pushed above")
    }

    pub fn placed(&mut self, now_ms: u64, wait_ms: u64) {
        self.placed_total += 1;
        let second = self.second(now_ms);
        second.placed += 1;
        second.waits[bucket(wait_ms)] += 1;
    }

    pub fn completed(&mut self, now_ms: u64) {
        self.completed_total += 1;
        self.second(now_ms).completed += 1;
    }

    /// The `q` quantile of the waits placed in the last `window_ms` (whole
    /// seconds), 0 if none was.
    pub fn recent_wait(&self, now_ms: u64, window_ms: u64, q: f64) -> u64 {
        let mut waits = [0u64; BUCKETS];
        let mut placed = 0;
        for second in self
            .seconds
            .iter()
            .rev()
            .take_while(|s| s.at * 1000 + window_ms > now_ms)
        {
            placed += second.placed;
            for (sum, n) in waits.iter_mut().zip(second.waits) {
                *sum += n as u64;
            }
        }
        quantile(&waits, placed, q)
    }

    pub fn summary(&self, now_ms: u64) -> Summary {
        let recent = || {
            self.seconds
                .iter()
                .filter(move |s| s.at * 1000 + WINDOW_MS > now_ms)
        };
        let mut waits = [0u64; BUCKETS];
        let mut summary = Summary {
            placed_total: self.placed_total,
            completed_total: self.completed_total,
            ..Summary::default()
        };
        for second in recent() {
            summary.placed += second.placed;
            summary.completed += second.completed;
            for (sum, n) in waits.iter_mut().zip(second.waits) {
                *sum += n as u64;
            }
        }
        let span_ms = recent()
            .next()
            .map_or(0, |first| now_ms.saturating_sub(first.at * 1000))
            .clamp(1000, WINDOW_MS);
        summary.completed_per_s = summary.completed as f64 * 1000.0 / span_ms as f64;
        summary.wait_p50_ms = quantile(&waits, summary.placed, 0.50);
        summary.wait_p99_ms = quantile(&waits, summary.placed, 0.99);
        summary
    }
}

/// The `q` quantile of `placed` waits counted in `waits`' buckets.
fn quantile(waits: &[u64; BUCKETS], placed: u64, q: f64) -> u64 {
    if placed == 0 {
        return 0;
    }
    let rank = ((placed as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, n) in waits.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return bucket_top(b);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_falls_in_a_bucket_whose_top_is_within_a_fifth() {
        for wait in [1u64, 2, 3, 5, 7, 10, 99, 100, 500, 1234, 60_000, 3_600_000] {
            let top = bucket_top(bucket(wait));
            assert!(top >= wait, "{wait} -> {top}");
            assert!(top as f64 <= wait as f64 * 1.25 + 1.0, "{wait} -> {top}");
        }
        assert_eq!(bucket_top(bucket(0)), 0);
    }

    #[test]
    fn percentiles_and_rate_over_the_window() {
        let mut stats = PoolStats::default();
        for i in 0..100u64 {
            stats.placed(10_000 + i * 10, if i < 98 { 10 } else { 1000 });
            stats.completed(10_000 + i * 10);
        }
        let summary = stats.summary(11_000);
        assert_eq!(summary.placed, 100);
        assert!((10..=12).contains(&summary.wait_p50_ms), "{summary:?}");
        assert!(summary.wait_p99_ms >= 1000, "{summary:?}");
        assert!((summary.completed_per_s - 100.0).abs() < 1.0, "{summary:?}");
        // A minute later it has all aged out.
        assert_eq!(stats.summary(80_000).placed, 0);
    }

    #[test]
    fn recent_waits_reach_back_only_as_far_as_asked() {
        let mut stats = PoolStats::default();
        stats.placed(10_000, 5_000);
        stats.placed(14_500, 20);
        let recent = stats.recent_wait(14_900, 3_000, 0.9);
        assert!(
            (20..25).contains(&recent),
            "the top of 20's bucket: {recent}"
        );
        assert!(stats.recent_wait(14_900, 10_000, 0.9) >= 5_000);
        assert_eq!(stats.recent_wait(30_000, 3_000, 0.9), 0);
    }
}
