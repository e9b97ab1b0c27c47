//! The breaker's clock: tokio's clock (which tests may pause), read as a count of
//! nanoseconds on a scale of the breaker's own.
//!
//! A rolling window and an open breaker read the clock on every call, so turning an
//! [`Instant`] into a number is on the hot path. std offers one way to do that, subtracting
//! two instants, and that subtraction is not inlinable: on the machine the benchmarks ran
//! on it cost about 2 ns per reading, beside about 15 ns for the reading itself. An instant
//! does hand its parts to a [`Hasher`], though: on the platforms std supports, its `Hash`
//! feeds whole seconds (`i64` or `u64`) and then nanoseconds (`u32`). [`Clock`] reads those
//! two numbers through a hasher of its own, which inlines to a multiplication and an
//! addition. That order is not a documented promise of std, so the hasher checks that it is
//! fed exactly that, and anything else (another layout in a future std, an overflow) falls
//! back to the subtraction, which gives the same number. Readings are exact either way.

use std::hash::{Hash, Hasher};

use tokio::time::Instant;

use crate::state::{EPOCH, nanos};

/// Readings of tokio's clock in nanoseconds: [`EPOCH`] at the breaker's creation, one more
/// per nanosecond after it, one less per nanosecond before it (an instant read on another
/// runtime's clock may be earlier), saturating at both ends.
pub(crate) struct Clock {
    /// The instant the breaker was created.
    base: Instant,
    /// A reading is the platform's clock in whole nanoseconds ([`raw_nanos`]) less
    /// `shift`, wrapping, for a raw reading in `low..=low + span`: where that difference is
    /// the exact reading. The range is empty when the base's parts cannot be read.
    shift: u64,
    low: u64,
    span: u64,
}

impl Clock {
    /// A clock whose reading is [`EPOCH`] now.
    pub(crate) fn new() -> Clock {
        let base = Instant::now();
        let (shift, low, span) = match raw_nanos(base) {
            // raw - base + EPOCH, which lies in 0..=u64::MAX for raw in low..=high.
            Some(raw) => {
                let low = raw.saturating_sub(EPOCH);
                let high = raw.saturating_add(u64::MAX - EPOCH);
                (raw.wrapping_sub(EPOCH), low, high - low)
            }
            // An empty range (no raw reading is u64::MAX): every reading subtracts.
            None => (0, u64::MAX, 0),
        };
        Clock {
            base,
            shift,
            low,
            span,
        }
    }

    /// The reading now.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.reading(Instant::now())
    }

    /// The reading at `instant`.
    #[inline]
    pub(crate) fn reading(&self, instant: Instant) -> u64 {
        match raw_nanos(instant) {
            Some(raw) if raw.wrapping_sub(self.low) <= self.span => raw.wrapping_sub(self.shift),
            _ => self.subtracted(instant),
        }
    }

    /// The reading at `instant`, through std's subtraction.
    #[cold]
    fn subtracted(&self, instant: Instant) -> u64 {
        match instant.checked_duration_since(self.base) {
            Some(after) => EPOCH.saturating_add(nanos(after)),
            None => EPOCH.saturating_sub(nanos(self.base.saturating_duration_since(instant))),
        }
    }
}

/// `instant` in whole nanoseconds of the platform's clock (from whatever point that clock
/// counts from), read from the parts its `Hash` feeds; `None` if it feeds anything but
/// seconds and then nanoseconds, or beyond 2^34 seconds (as negative seconds are, see
/// [`Parts::write_i64`]).
#[inline]
fn raw_nanos(instant: Instant) -> Option<u64> {
    let mut parts = Parts::Start;
    instant.into_std().hash(&mut parts);
    match parts {
        // Below 2^34 seconds (544 years) the sum fits in a u64, with no check on it.
        Parts::Both { secs, nanos } if secs < 1 << 34 && nanos < 1_000_000_000 => {
            Some(secs * 1_000_000_000 + u64::from(nanos))
        }
        _ => None,
    }
}

/// A hasher that keeps what an instant feeds it, if that is whole seconds and then
/// nanoseconds, and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parts {
    Start,
    Secs(u64),
    Both { secs: u64, nanos: u32 },
    Other,
}

impl Hasher for Parts {
    fn finish(&self) -> u64 {
        0
    }

    #[inline]
    fn write(&mut self, _: &[u8]) {
        *self = Parts::Other;
    }

    #[inline]
    fn write_u64(&mut self, secs: u64) {
        *self = match *self {
            Parts::Start => Parts::Secs(secs),
            _ => Parts::Other,
        };
    }

    /// A negative count of seconds reads as at least 2^63 seconds, which
    /// [`raw_nanos`] then refuses.
    #[inline]
    #[allow(clippy::cast_sign_loss)]
    fn write_i64(&mut self, secs: i64) {
        self.write_u64(secs as u64);
    }

    #[inline]
    fn write_u32(&mut self, nanos: u32) {
        *self = match *self {
            Parts::Secs(secs) => Parts::Both { secs, nanos },
            _ => Parts::Other,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn this_platforms_instants_are_read_from_their_parts() {
        // The fast reading is what the benchmarks measure: should a std release feed an
        // instant's hasher something else, readings stay exact (see the next tests) but
        // take the subtraction, and this says so.
        let clock = Clock::new();
        assert!(
            clock.low != u64::MAX && raw_nanos(Instant::now()).is_some(),
            "std's Instant no longer hashes as whole seconds then nanoseconds"
        );
    }

    #[test]
    fn readings_from_parts_equal_readings_by_subtraction() {
        let clock = Clock::new();
        let base = clock.base;
        let steps = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::from_secs(1),
            Duration::new(1, 1),
            Duration::new(3_600, 500_000_000),
            Duration::from_secs(86_400 * 365 * 100),
            // The last exact reading, the first saturated one, and one past 2^34 seconds.
            Duration::from_nanos(u64::MAX - EPOCH),
            Duration::from_nanos(u64::MAX - EPOCH) + Duration::from_nanos(1),
            Duration::from_secs(1 << 34),
        ];
        for step in steps {
            for instant in [Some(base + step), base.checked_sub(step)]
                .into_iter()
                .flatten()
            {
                assert_eq!(
                    clock.reading(instant),
                    clock.subtracted(instant),
                    "{step:?} from the base"
                );
            }
        }
        assert_eq!(clock.reading(base), EPOCH);
        let last = base + Duration::from_nanos(u64::MAX - EPOCH);
        assert_eq!(clock.reading(last), u64::MAX);
        assert_eq!(clock.reading(last + Duration::from_nanos(1)), u64::MAX);
        assert_eq!(
            clock.reading(base + Duration::new(2, 5)),
            EPOCH + 2_000_000_005
        );
        let now = Instant::now();
        assert_eq!(clock.reading(now), clock.subtracted(now));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_read_as_it_stands() {
        let clock = Clock::new();
        tokio::time::advance(Duration::new(5, 250)).await;
        assert_eq!(clock.now(), EPOCH + 5_000_000_250);
        assert_eq!(clock.now(), clock.subtracted(Instant::now()));
    }

    #[test]
    fn anything_but_seconds_then_nanoseconds_is_not_read() {
        let fed = |feed: &dyn Fn(&mut Parts)| {
            let mut parts = Parts::Start;
            feed(&mut parts);
            parts
        };
        assert_eq!(
            fed(&|p| {
                p.write_i64(7);
                p.write_u32(9);
            }),
            Parts::Both { secs: 7, nanos: 9 }
        );
        assert_eq!(
            fed(&|p| {
                p.write_u64(7);
                p.write_u32(9);
            }),
            Parts::Both { secs: 7, nanos: 9 }
        );
        assert_eq!(
            fed(&|p| {
                p.write_i64(-1);
                p.write_u32(0);
            }),
            Parts::Both {
                secs: u64::MAX,
                nanos: 0
            }
        );
        assert_eq!(
            fed(&|p| {
                p.write_u32(9);
                p.write_i64(7);
            }),
            Parts::Other
        );
        assert_eq!(
            fed(&|p| {
                p.write_i64(7);
                p.write_u32(9);
                p.write_u32(9);
            }),
            Parts::Other
        );
        assert_eq!(
            fed(&|p| {
                p.write_i64(7);
                p.write_u64(9);
            }),
            Parts::Other
        );
        assert_eq!(fed(&|p| p.write(&[1, 2])), Parts::Other);
    }
}
