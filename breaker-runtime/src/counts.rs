//! The counts of one generation, and how they are packed into atomic words.
//!
//! Each count lives in its own `u64`: the low 24 bits of the generation it belongs to
//! (the tag) above a 40-bit value. A word whose tag is not the current generation's reads
//! as zero, so a new generation starts from zero without anyone clearing anything, and an
//! outcome of an older generation can never be added to a newer one.

/// The counts of the breaker's current generation (see the crate docs for generations).
///
/// Counts saturate at 2⁴⁰ − 1 (about 10¹²) instead of wrapping.
///
/// ```
/// use breaker_runtime::Counts;
///
/// let mut counts = Counts::default();
/// counts.requests = 10;
/// counts.total_failures = 6;
/// assert!(counts.failure_ratio() > 0.5);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// Calls admitted in this generation, counted at admission (in-flight calls are
    /// included; cancelled calls are taken out again).
    pub requests: u64,
    /// Calls that finished as a success.
    pub total_successes: u64,
    /// Calls that finished as a failure (errors, timeouts, panics).
    pub total_failures: u64,
    /// Calls whose outcome was classified as [`Outcome::Ignored`](crate::Outcome::Ignored).
    pub total_ignored: u64,
    /// Successes since the last failure.
    pub consecutive_successes: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Calls that took at least `slow_call` (successes and failures alike; a timeout is
    /// slow). Always 0 without `slow_call`.
    pub slow_calls: u64,
    /// Slow calls since the last call that was not slow (ignored calls aside).
    pub consecutive_slow_calls: u64,
}

impl Counts {
    /// `total_failures / (requests - total_ignored)`, or 0 when nothing counted yet.
    #[must_use]
    pub fn failure_ratio(&self) -> f64 {
        let counted = self.requests.saturating_sub(self.total_ignored);
        if counted == 0 {
            0.0
        } else {
            // Counts stay below 2^40, so these conversions are exact.
            #[allow(clippy::cast_precision_loss)]
            let ratio = self.total_failures as f64 / counted as f64;
            ratio
        }
    }

    /// `slow_calls / (requests - total_ignored)`, or 0 when nothing counted yet.
    #[must_use]
    pub fn slow_call_ratio(&self) -> f64 {
        let counted = self.requests.saturating_sub(self.total_ignored);
        if counted == 0 {
            0.0
        } else {
            // Counts stay below 2^40, so these conversions are exact.
            #[allow(clippy::cast_precision_loss)]
            let ratio = self.slow_calls as f64 / counted as f64;
            ratio
        }
    }
}

pub(crate) const REQUESTS: usize = 0;
pub(crate) const SUCCESSES: usize = 1;
pub(crate) const FAILURES: usize = 2;
pub(crate) const IGNORED: usize = 3;
pub(crate) const SLOW: usize = 4;
/// The streak of successes or failures (see [`streak_after`]).
pub(crate) const STREAK: usize = 5;
/// The streak of slow calls: a plain count, reset by a call that was not slow.
pub(crate) const SLOW_STREAK: usize = 6;
pub(crate) const WORDS: usize = 7;

const VALUE_BITS: u32 = 40;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - VALUE_BITS)) - 1;

/// The largest value a count reaches; it saturates there.
pub(crate) const MAX: u64 = VALUE_MASK;

/// The top value bit of the streak word says which kind of streak it is.
const FAILING: u64 = 1 << (VALUE_BITS - 1);
const STREAK_MAX: u64 = FAILING - 1;

pub(crate) fn pack(generation: u64, value: u64) -> u64 {
    ((generation & TAG_MASK) << VALUE_BITS) | (value & VALUE_MASK)
}

/// The value of `word` if it belongs to `generation`.
pub(crate) fn unpack(word: u64, generation: u64) -> Option<u64> {
    (word >> VALUE_BITS == generation & TAG_MASK).then_some(word & VALUE_MASK)
}

/// Whether a tag (the low bits of a generation) is older than `generation`'s: behind it by
/// less than half the tag space. A word of a newer generation is not older, which keeps a
/// late retag (by the winner of an earlier transition, preempted between publishing its
/// generation and retagging) from wiping a newer generation's count.
pub(crate) fn tag_older(tag: u64, generation: u64, bits: u32) -> bool {
    let mask = (1 << bits) - 1;
    let behind = (generation & mask).wrapping_sub(tag & mask) & mask;
    behind != 0 && behind < (1 << (bits - 1))
}

/// Whether `word` holds the count of a generation older than `generation`.
pub(crate) fn older(word: u64, generation: u64) -> bool {
    tag_older(word >> VALUE_BITS, generation, 64 - VALUE_BITS)
}

pub(crate) fn incremented(value: u64) -> u64 {
    if value >= MAX { MAX } else { value + 1 }
}

/// The streak after one more success (`failed == false`) or failure.
pub(crate) fn streak_after(streak: u64, failed: bool) -> u64 {
    let same_kind = (streak & FAILING != 0) == failed;
    let len = if same_kind { streak & STREAK_MAX } else { 0 };
    let len = if len >= STREAK_MAX {
        STREAK_MAX
    } else {
        len + 1
    };
    if failed { FAILING | len } else { len }
}

/// `(consecutive_successes, consecutive_failures)` of a streak value.
pub(crate) fn split_streak(streak: u64) -> (u64, u64) {
    let len = streak & STREAK_MAX;
    if streak & FAILING != 0 {
        (0, len)
    } else {
        (len, 0)
    }
}

/// Builds `Counts` from the five values of one generation.
pub(crate) fn from_values(values: [u64; WORDS]) -> Counts {
    let (consecutive_successes, consecutive_failures) = split_streak(values[STREAK]);
    Counts {
        requests: values[REQUESTS],
        total_successes: values[SUCCESSES],
        total_failures: values[FAILURES],
        total_ignored: values[IGNORED],
        consecutive_successes,
        consecutive_failures,
        slow_calls: values[SLOW],
        consecutive_slow_calls: values[SLOW_STREAK],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_tags_are_older() {
        assert!(older(pack(6, 9), 7));
        assert!(!older(pack(7, 9), 7), "the same generation");
        assert!(!older(pack(8, 9), 7), "a newer generation");
        assert!(
            older(pack((1 << 24) - 1, 9), 1 << 24),
            "across the tag's wrap"
        );
        assert!(
            !older(pack(1 << 24, 9), (1 << 24) - 1),
            "newer across the wrap"
        );
        assert!(tag_older(3, 4, 24) && !tag_older(5, 4, 24));
    }

    #[test]
    fn tags_separate_generations() {
        let w = pack(7, 42);
        assert_eq!(unpack(w, 7), Some(42));
        assert_eq!(unpack(w, 8), None);
        assert_eq!(unpack(w, 6), None);
        // Every generation within 2^24 of another has a tag of its own...
        for other in [1, 2, 3, 255, 256, (1 << 23) + 1, (1 << 24) - 1] {
            assert_eq!(unpack(pack(7, 1), 7 + other), None, "{other}");
            assert_eq!(unpack(pack(7 + other, 1), 7), None, "{other}");
        }
        // ...and only the low 24 bits of the generation are kept.
        assert_eq!(unpack(pack(7 + (1 << 24), 1), 7), Some(1));
        assert_eq!(unpack(0, 0), Some(0));
    }

    #[test]
    fn values_saturate() {
        assert_eq!(incremented(MAX - 1), MAX);
        assert_eq!(incremented(MAX), MAX);
        assert_eq!(unpack(pack(3, MAX), 3), Some(MAX));
        let s = streak_after(STREAK_MAX, false);
        assert_eq!(split_streak(s), (STREAK_MAX, 0));
        let f = streak_after(FAILING | STREAK_MAX, true);
        assert_eq!(split_streak(f), (0, STREAK_MAX));
    }

    #[test]
    fn streaks_switch_kind() {
        let mut s = 0;
        s = streak_after(s, false);
        s = streak_after(s, false);
        assert_eq!(split_streak(s), (2, 0));
        s = streak_after(s, true);
        assert_eq!(split_streak(s), (0, 1));
        s = streak_after(s, true);
        s = streak_after(s, true);
        assert_eq!(split_streak(s), (0, 3));
        s = streak_after(s, false);
        assert_eq!(split_streak(s), (1, 0));
    }

    #[test]
    fn failure_ratio_ignores_ignored() {
        let c = Counts {
            requests: 10,
            total_failures: 4,
            total_ignored: 2,
            ..Counts::default()
        };
        assert!((c.failure_ratio() - 0.5).abs() < f64::EPSILON);
        assert!(Counts::default().failure_ratio().abs() < f64::EPSILON);
    }
}
