//! Launch numbers a leader set aside in the log for itself
//! ([`crate::state::Command::ReserveLaunches`]), so that a launch's
//! execution id is known before the launch commits and its first nodes can
//! run meanwhile (see `Dispatcher::start_launch`).
//!
//! A block is good only for the term that reserved it: a leader that lost
//! its office and won it back reserves again, so a number it proposed in an
//! earlier term, whatever became of that proposal, is never proposed twice.

use std::sync::Mutex;

/// Numbers reserved at a time: one extra commit per this many launches.
pub const BLOCK: u64 = 1024;

#[derive(Default)]
pub struct LaunchNumbers {
    free: Mutex<Option<Block>>,
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

    /// Numbers `next..=last` were reserved in `term` (replacing what is left
    /// of any earlier block).
    pub fn reserved(&self, term: u64, next: u64, last: u64) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) = Some(Block { term, next, last });
    }
}

#[cfg(test)]
mod tests {
    use super::LaunchNumbers;

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
}
