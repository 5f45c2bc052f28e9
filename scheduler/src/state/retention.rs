//! Retention (docs/operations.md, "Retention"): finished executions, with
//! their node states and event histories, leave the replicated state once
//! their retention has passed, through the [`Command::Expire`] the leader
//! proposes, so that every replica drops the same ones and snapshots stay
//! bounded. What an expired execution leaves behind is its launch number in
//! [`ExpiredNumbers`], so that `baton get` can say it expired rather than
//! that it never was.
//!
//! The retention is per project ([`Command::SetRetention`]), else the
//! leader's `--retention`; the state only checks at apply that what is
//! expired has finished, so that the choice of what is due stays with the
//! leader and its clock.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{ExecutionId, Response, SchedulerState};
use crate::error::SchedulerError;

/// The most executions one [`Command::Expire`] names, so that one log
/// entry stays small however far behind the sweep is.
pub const MAX_PER_COMMAND: usize = 1_000;

/// The longest retention a project may set (about ten years), so that
/// finish time plus retention never overflows.
pub const MAX_RETENTION_MS: u64 = 3_650 * 24 * 3_600 * 1_000;

/// How long a project keeps its finished executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Retention {
    /// They never expire.
    Forever,
    /// They expire this long after they finished.
    For { ms: u64 },
}

impl Retention {
    /// When an execution that finished at `finished_at_ms` expires.
    pub fn expires_at(self, finished_at_ms: u64) -> Option<u64> {
        match self {
            Retention::Forever => None,
            Retention::For { ms } => Some(finished_at_ms.saturating_add(ms)),
        }
    }
}

impl Retention {
    /// Why no project may keep its executions this long, if it may not.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Retention::For { ms: 0 } => Some("would drop executions as they finish"),
            Retention::For { ms } if ms > MAX_RETENTION_MS => {
                Some("is too long: a retention is at most 3650 days")
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Forever => f.write_str("forever"),
            Retention::For { ms } => f.write_str(
                &humantime::format_duration(std::time::Duration::from_millis(*ms)).to_string(),
            ),
        }
    }
}

/// `--retention` and `baton project set --retention` as given: a duration
/// (`7d`, `12h`), `forever`, or (with `allow_default`) `default`, the
/// leader's own (`None`).
pub fn parse_retention(text: &str, allow_default: bool) -> Result<Option<Retention>, String> {
    match text.trim() {
        "forever" => return Ok(Some(Retention::Forever)),
        "default" if allow_default => return Ok(None),
        _ => {}
    }
    let hint = if allow_default {
        "a duration such as 7d or 12h, `forever`, or `default`"
    } else {
        "a duration such as 7d or 12h, or `forever`"
    };
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a retention: give {hint}"))?;
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let retention = Retention::For { ms };
    match retention.refusal() {
        Some(why) => Err(format!("a retention of `{text}` {why}: give {hint}")),
        None => Ok(Some(retention)),
    }
}

/// The launch numbers of expired executions, as disjoint ranges
/// (first -> last, inclusive). Executions mostly expire in about the order
/// they were launched, so the ranges merge and the set stays a few entries
/// whatever the count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredNumbers {
    ranges: BTreeMap<u64, u64>,
}

impl ExpiredNumbers {
    pub fn contains(&self, number: u64) -> bool {
        self.ranges
            .range(..=number)
            .next_back()
            .is_some_and(|(_, last)| *last >= number)
    }

    pub fn insert(&mut self, number: u64) {
        if self.contains(number) {
            return;
        }
        let mut first = number;
        let mut last = number;
        // A range that ends just before joins from the left.
        if let Some((&start, &end)) = self.ranges.range(..number).next_back() {
            if end.checked_add(1) == Some(number) {
                first = start;
            }
        }
        // A range that starts just after joins from the right.
        if let Some(next) = number.checked_add(1) {
            if let Some(end) = self.ranges.remove(&next) {
                last = end;
            }
        }
        self.ranges.insert(first, last);
    }

    /// How many ranges it holds (for tests and the soak figures).
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// How many numbers it holds.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|(first, last)| last - first + 1)
            .sum()
    }
}

/// Why execution `id` is not among the executions: it expired (its launch
/// number is in `expired`) or it never was.
pub fn missing(expired: &ExpiredNumbers, id: &ExecutionId) -> String {
    if launch_number(id).is_some_and(|n| expired.contains(n)) {
        format!(
            "execution `{id}` expired: it finished longer ago than its project's retention, \
             and finished executions then leave the state (docs/operations.md, \"Retention\")"
        )
    } else {
        format!("unknown execution `{id}`")
    }
}

/// The launch number an execution id ends in (`name-12` -> 12).
pub fn launch_number(id: &ExecutionId) -> Option<u64> {
    let (_, number) = id.0.rsplit_once('-')?;
    number.parse().ok()
}

impl SchedulerState {
    /// The retention of `project`'s finished executions, under the leader's
    /// `default` when the project sets none.
    pub fn retention_of(&self, project: &str, default: Retention) -> Retention {
        self.projects
            .get(project)
            .and_then(|p| p.retention)
            .unwrap_or(default)
    }

    /// Finished executions whose retention has passed by `now_ms`, oldest
    /// launch first, at most `limit`.
    pub fn due_for_expiry(
        &self,
        now_ms: u64,
        default: Retention,
        limit: usize,
    ) -> Vec<ExecutionId> {
        self.execution_order
            .iter()
            .filter_map(|id| self.executions.get(id))
            .filter(|e| e.phase.is_terminal())
            .filter(|e| {
                self.retention_of(&e.project, default)
                    .expires_at(e.finished_at_ms)
                    .is_some_and(|at| at <= now_ms)
            })
            .map(|e| e.id.clone())
            .take(limit)
            .collect()
    }

    /// Why execution `id` is not in the state, in words for its user.
    pub fn missing_execution(&self, id: &ExecutionId) -> String {
        missing(&self.expired, id)
    }

    /// [`Command::Expire`]: drops each named execution that has finished;
    /// one that still runs (or is gone already) is left as it is.
    pub(super) fn expire(&mut self, executions: Vec<ExecutionId>) -> Response {
        let mut gone = HashSet::new();
        for id in executions {
            let finished = self
                .executions
                .get(&id)
                .is_some_and(|e| e.phase.is_terminal());
            if !finished {
                continue;
            }
            self.executions.remove(&id);
            if let Some(number) = launch_number(&id) {
                self.expired.insert(number);
            }
            gone.insert(id);
        }
        if gone.is_empty() {
            return Response::Ignored("no finished execution to expire".into());
        }
        self.execution_order.retain(|id| !gone.contains(id));
        self.launch_requests.retain(|_, id| !gone.contains(id));
        Response::Done
    }

    /// [`Command::SetRetention`]: a project's own retention, or (`None`) the
    /// leader's default again.
    pub(super) fn set_retention(
        &mut self,
        project: String,
        retention: Option<Retention>,
        effects: &mut Vec<super::Effect>,
    ) -> Result<Response, SchedulerError> {
        check_retention(&project, retention)?;
        effects.push(super::Effect::RetentionChanged);
        let settings = self.projects.entry(project.clone()).or_default();
        settings.retention = retention;
        if *settings == super::pools::ProjectSettings::default() {
            self.projects.remove(&project);
        }
        Ok(Response::Done)
    }
}

/// Refuses a retention no project may have.
pub fn check_retention(project: &str, retention: Option<Retention>) -> Result<(), SchedulerError> {
    super::pools::check_name("project", project)?;
    match retention.and_then(Retention::refusal) {
        Some(why) => Err(SchedulerError::invalid(format!(
            "project `{project}`: a retention of {} {why}; give a duration such as 7d, or `forever`",
            retention.map_or_else(String::new, |r| r.to_string())
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_numbers_merge_into_ranges() {
        let mut set = ExpiredNumbers::default();
        for n in [3, 1, 2, 5, 7, 6] {
            set.insert(n);
        }
        assert_eq!(set.ranges(), 2, "{set:?}");
        assert_eq!(set.count(), 6);
        for n in [1, 2, 3, 5, 6, 7] {
            assert!(set.contains(n), "{n}");
        }
        for n in [0, 4, 8] {
            assert!(!set.contains(n), "{n}");
        }
        set.insert(4);
        assert_eq!(set.ranges(), 1);
        set.insert(4);
        assert_eq!(set.count(), 7);
        set.insert(u64::MAX);
        assert!(set.contains(u64::MAX));
    }

    #[test]
    fn a_retention_is_a_duration_forever_or_default() {
        assert_eq!(
            parse_retention("7d", false),
            Ok(Some(Retention::For { ms: 7 * 86_400_000 }))
        );
        assert_eq!(
            parse_retention("forever", false),
            Ok(Some(Retention::Forever))
        );
        assert_eq!(parse_retention("default", true), Ok(None));
        for bad in ["default", "0s", "soon", "", "4000d"] {
            let error = parse_retention(bad, false).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
        assert_eq!(
            Retention::For { ms: 90_000_000 }.to_string(),
            "1day 1h",
            "what `baton pools` shows"
        );
    }

    #[test]
    fn a_launch_number_is_the_ids_last_part() {
        assert_eq!(launch_number(&ExecutionId("al-people-12".into())), Some(12));
        assert_eq!(launch_number(&ExecutionId("nonumber".into())), None);
        assert_eq!(launch_number(&ExecutionId("x-y".into())), None);
    }
}
