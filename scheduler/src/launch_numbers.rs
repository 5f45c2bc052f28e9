//! Launch numbers a leader set aside in the log for itself
//! ([`crate::state::Command::ReserveLaunches`]), so that a launch's
//! execution id is known before the launch commits and its first nodes can
//! run meanwhile (see `Dispatcher::start_launch`).
//!
//! A block is good only for the term that reserved it: a leader that lost
//! its office and won it back reserves again, so a number it proposed in an
//! earlier term, whatever became of that proposal, is never proposed twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Numbers reserved at a time: one extra commit per this many launches.
pub const BLOCK: u64 = 1024;

/// Launches started early at once, at most. Past this, launches go to the
/// proposer as they are, numbered when applied: a burst is served better
/// by the proposer's batching (many launches in one entry, their nodes
/// started after it) than by starting every launch's first nodes while
/// the rest of the burst is still coming in (measured: 1,000 launches at
/// once were acknowledged 40% later that way).
pub const MAX_EARLY: usize = 8;

#[derive(Default)]
pub struct LaunchNumbers {
    free: Mutex<Option<Block>>,
    /// Launches started early and not yet answered.
    early: AtomicUsize,
    /// Held while a block is being reserved, so that launches arriving
    /// together reserve one block, not one each.
    pub reserving: tokio::sync::Mutex<()>,
}

struct Block {
    term: u64,
    next: u64,
    last: u64,
}

impl LaunchNumbers {
    /// The next free number reserved in `term`, if one is left.
    pub fn take(&self, term: u64) -> Option<u64> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let block = free.as_mut().filter(|b| b.term == term)?;
        if block.next > block.last {
            return None;
        }
        block.next += 1;
        Some(block.next - 1)
    }

    /// A place among the launches started early, if one is free; held until
    /// the launch is answered.
    pub fn start_early(&self) -> Option<Early<'_>> {
        let taken = self.early.fetch_add(1, Ordering::AcqRel);
        let early = Early(&self.early);
        (taken < MAX_EARLY).then_some(early)
    }

    /// Numbers `next..=last` were reserved in `term` (replacing what is left
    /// of any earlier block).
    pub fn reserved(&self, term: u64, next: u64, last: u64) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) = Some(Block { term, next, last });
    }
}

/// One launch started early; gives its place back when dropped.
pub struct Early<'a>(&'a AtomicUsize);

impl Drop for Early<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::{LaunchNumbers, MAX_EARLY};

    #[test]
    fn numbers_are_taken_once_each_and_only_in_their_term() {
        let numbers = LaunchNumbers::default();
        assert_eq!(numbers.take(3), None, "nothing reserved yet");
        numbers.reserved(3, 10, 12);
        assert_eq!(numbers.take(4), None, "reserved in another term");
        assert_eq!(
            [numbers.take(3), numbers.take(3), numbers.take(3)],
            [Some(10), Some(11), Some(12)]
        );
        assert_eq!(numbers.take(3), None, "used up");
        numbers.reserved(5, 40, 41);
        assert_eq!(numbers.take(3), None, "an old term's block is gone");
        assert_eq!(numbers.take(5), Some(40));
    }

    #[test]
    fn at_most_max_early_launches_start_early_at_once() {
        let numbers = LaunchNumbers::default();
        let held: Vec<_> = (0..MAX_EARLY).map(|_| numbers.start_early()).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(numbers.start_early().is_none(), "all places taken");
        drop(held);
        assert!(numbers.start_early().is_some(), "places are given back");
    }
}
