//! What the counts cover: the generation's own counts ([`Tally`], one tagged word per
//! count), and the two windows a closed breaker may count over instead, a rolling time
//! window ([`Rolling`], buckets of time) and a count window ([`Ring`], the last N
//! outcomes). No lock is taken and nothing is allocated after the breaker is built.

use crate::counts::{self, Counts, WORDS};
use crate::sync::{AtomicU64, Ordering};

/// What became of an attempt to change a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// Applied; the new value.
    Applied(u64),
    /// The change function declined (the half-open budget is taken).
    Refused,
    /// The generation has moved on; nothing was changed.
    Stale,
}

/// Applies `change` to the generation-tagged `cell` for `generation`, unless the
/// generation is over (`current` reads the breaker's generation now).
#[inline]
fn update(
    cell: &AtomicU64,
    generation: u64,
    current: impl Fn() -> u64,
    change: impl Fn(u64) -> Option<u64>,
) -> Update {
    // Acquire: a word retagged by a newer generation must not be paired with an older
    // state word in the check below (the retag is written after the state word).
    let mut word = cell.load(Ordering::Acquire);
    loop {
        let value = match counts::unpack(word, generation) {
            Some(value) => value,
            // The word still holds an older generation's count: it reads as zero, but only
            // the current generation may claim it.
            None if current() == generation => 0,
            None => return Update::Stale,
        };
        let Some(new) = change(value) else {
            return Update::Refused;
        };
        match cell.compare_exchange_weak(
            word,
            counts::pack(generation, new),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Update::Applied(new),
            Err(actual) => word = actual,
        }
    }
}

/// Retags `cell` for `generation` if it holds an older generation's count, so that no word
/// keeps an ancient generation's tag, which 2^24 generations later would read as current.
/// A word of `generation` or of a newer one is left alone: the retag of a transition whose
/// winner was preempted after publishing may run after later transitions, and must not wipe
/// their counts. A failed exchange means a newer count was just written, which is recent
/// enough.
fn retag(cell: &AtomicU64, generation: u64) {
    let word = cell.load(Ordering::Relaxed);
    if counts::older(word, generation) {
        let _ = cell.compare_exchange(
            word,
            counts::pack(generation, 0),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// The counts of one generation, one word each, tagged with the generation they belong
/// to (see `counts.rs`): a new generation starts from zero without anyone clearing
/// anything, and an outcome of an older generation is never added to a newer one.
pub(crate) struct Tally {
    cells: [AtomicU64; WORDS],
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Applies `change` to count `index` of `generation`, unless the generation is over.
    #[inline]
    pub(crate) fn update(
        &self,
        index: usize,
        generation: u64,
        current: impl Fn() -> u64,
        change: impl Fn(u64) -> Option<u64>,
    ) -> Update {
        update(&self.cells[index], generation, current, change)
    }

    /// Count `index` of `generation` (0 if another generation's).
    pub(crate) fn value(&self, index: usize, generation: u64) -> u64 {
        counts::unpack(self.cells[index].load(Ordering::Acquire), generation).unwrap_or(0)
    }

    /// All counts of `generation`.
    pub(crate) fn counts(&self, generation: u64) -> Counts {
        counts::from_values(std::array::from_fn(|i| self.value(i, generation)))
    }

    /// Retags every count for a new generation (after it is published).
    pub(crate) fn retag(&self, generation: u64) {
        for cell in &self.cells {
            retag(cell, generation);
        }
    }
}

/// The counts a rolling window keeps per bucket, in cell order.
pub(crate) const BUCKET_REQUESTS: usize = 0;
pub(crate) const BUCKET_SUCCESSES: usize = 1;
pub(crate) const BUCKET_FAILURES: usize = 2;
pub(crate) const BUCKET_IGNORED: usize = 3;
pub(crate) const BUCKET_SLOW: usize = 4;
const BUCKET_CELLS: usize = 5;

/// How far ahead of the last bucket a new generation's buckets are numbered: serials are
/// never reused, even by an outcome whose clock ran ahead of the transition's.
pub(crate) const SERIAL_GAP: u64 = 1 << 16;

/// A bucket cell: the low 32 bits of the serial of the bucket it counts for, above a
/// 32-bit value (saturating).
#[inline]
fn bucket_pack(serial: u64, value: u64) -> u64 {
    ((serial & 0xFFFF_FFFF) << 32) | value.min(u64::from(u32::MAX))
}

#[inline]
fn bucket_unpack(word: u64) -> (u32, u64) {
    #[allow(clippy::cast_possible_truncation)]
    ((word >> 32) as u32, word & 0xFFFF_FFFF)
}

/// `a - b` on the serials' low 32 bits, as a signed distance.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
fn serial_distance(a: u64, b: u32) -> i64 {
    i64::from((a as u32).wrapping_sub(b) as i32)
}

/// How many slots a window of `len` entries keeps: `len` rounded up to a power of two, so
/// that an entry's slot is a mask of its number rather than a division.
fn slots_for(len: u32) -> usize {
    len.max(1).next_power_of_two() as usize
}

/// A rolling time window: `B` buckets of equal width. Bucket k of a generation covers
/// `[start + k·w, start + (k+1)·w)` and has the serial `base + k` (see
/// [`Stamp::base`](crate::state::Stamp)); it lives in slot `serial mod P` of `P` slots (`B`
/// rounded up to a power of two), and the window at serial `s` is the buckets
/// `s - B + 1 ..= s`, which never share a slot. A slot is taken over by a newer bucket at
/// its first count; a count for an older bucket than the slot holds is dropped (its bucket
/// has left the window).
pub(crate) struct Rolling {
    slots: Box<[[AtomicU64; BUCKET_CELLS]]>,
    /// `B`.
    buckets: u64,
    /// The offset of the bucket last looked up (see [`offset`](Self::offset)): only a
    /// guess, checked before it is used, so a plain atomic even in the loom models.
    hint: std::sync::atomic::AtomicU64,
}

impl Rolling {
    pub(crate) fn new(buckets: u32) -> Rolling {
        Rolling {
            slots: (0..slots_for(buckets))
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            buckets: u64::from(buckets.max(1)),
            hint: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `elapsed / width`: which bucket since the generation's start `elapsed` falls in.
    /// Calls mostly fall in the bucket the last one did, which takes a multiplication to
    /// check; only a call in another bucket divides.
    #[inline]
    pub(crate) fn offset(&self, elapsed: u64, width: u64) -> u64 {
        let guess = self.guess();
        match elapsed.checked_sub(guess.saturating_mul(width)) {
            Some(into) if into < width => guess,
            _ => {
                let offset = elapsed / width;
                self.hint
                    .store(offset, std::sync::atomic::Ordering::Relaxed);
                offset
            }
        }
    }

    /// The offset of the bucket last looked up, a guess to be checked.
    #[inline]
    pub(crate) fn guess(&self) -> u64 {
        self.hint.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of buckets.
    pub(crate) fn len(&self) -> u64 {
        self.buckets
    }

    #[inline]
    fn cell(&self, serial: u64, index: usize) -> &AtomicU64 {
        #[allow(clippy::cast_possible_truncation)]
        let slot = (serial as usize) & (self.slots.len() - 1);
        &self.slots[slot][index]
    }

    /// Adds one to count `index` of bucket `serial`, taking the slot over from an older
    /// bucket if needed, while `current` says the generation is still the caller's. Returns
    /// the serial counted for (a newer one when the slot already holds a newer bucket and
    /// `index` is the requests count: a caller whose clock lags counts in the newest
    /// bucket, if its generation is still current), or `None` when the count was dropped.
    #[inline(always)]
    pub(crate) fn add(&self, serial: u64, index: usize, current: impl Fn() -> bool) -> Option<u64> {
        let cell = self.cell(serial, index);
        let mut word = cell.load(Ordering::Acquire);
        loop {
            let (tag, value) = bucket_unpack(word);
            let distance = serial_distance(serial, tag);
            let (serial, new) = match distance {
                0 => (serial, value.saturating_add(1)),
                d if d > 0 => {
                    if !current() {
                        return None;
                    }
                    (serial, 1)
                }
                // The slot holds a newer bucket: of this generation (its caller's clock ran
                // ahead), where a lagging admission counts; or of a newer generation, where
                // an admission of an ended one must not.
                d if index == BUCKET_REQUESTS => {
                    if !current() {
                        return None;
                    }
                    (serial.wrapping_add_signed(-d), value + 1)
                }
                _ => return None,
            };
            match cell.compare_exchange_weak(
                word,
                bucket_pack(serial, new),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(serial),
                Err(actual) => word = actual,
            }
        }
    }

    /// The requests cell of bucket `serial`'s slot, and the word it holds now, for
    /// [`count_request`](Self::count_request).
    #[inline(always)]
    pub(crate) fn requests_cell(&self, serial: u64) -> (&AtomicU64, u64) {
        let cell = self.cell(serial, BUCKET_REQUESTS);
        (cell, cell.load(Ordering::Acquire))
    }

    /// Adds one request to bucket `serial` in one attempt, if `cell` (its requests cell)
    /// holds `seen` and `seen` counts for that bucket: whether it did.
    /// [`add`](Self::add) covers every other case.
    #[inline(always)]
    pub(crate) fn count_request(cell: &AtomicU64, seen: u64, serial: u64) -> bool {
        let (tag, value) = bucket_unpack(seen);
        serial_distance(serial, tag) == 0
            && value < u64::from(u32::MAX)
            && cell
                .compare_exchange(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Takes one request of bucket `serial` back (a cancelled call), if the slot still
    /// holds that bucket.
    pub(crate) fn remove_request(&self, serial: u64) {
        let cell = self.cell(serial, BUCKET_REQUESTS);
        let mut word = cell.load(Ordering::Acquire);
        loop {
            let (tag, value) = bucket_unpack(word);
            if serial_distance(serial, tag) != 0 || value == 0 {
                return;
            }
            match cell.compare_exchange_weak(
                word,
                bucket_pack(serial, value - 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// The sums over the window that ends at bucket `serial`, by cell index.
    pub(crate) fn totals(&self, serial: u64) -> [u64; BUCKET_CELLS] {
        let mut sums = [0; BUCKET_CELLS];
        let width = i64::try_from(self.buckets).unwrap_or(i64::MAX);
        for slot in &*self.slots {
            for (sum, cell) in sums.iter_mut().zip(slot) {
                let (tag, value) = bucket_unpack(cell.load(Ordering::Acquire));
                let age = serial_distance(serial, tag);
                if (0..width).contains(&age) {
                    *sum += value;
                }
            }
        }
        sums
    }
}

/// An entry of a count window: the low 24 bits of the generation, the low 24 bits of the
/// entry's position, and what the outcome was.
const RING_FAILED: u64 = 1;
const RING_SLOW: u64 = 2;
const POSITION_BITS: u32 = 24;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

fn ring_pack(generation: u64, position: u64, failed: bool, slow: bool) -> u64 {
    ((generation & POSITION_MASK) << 40)
        | ((position & POSITION_MASK) << 16)
        | (u64::from(failed) * RING_FAILED)
        | (u64::from(slow) * RING_SLOW)
}

/// A count window: the outcomes of the last N calls that finished, in the order they
/// finished. `head` (a generation-tagged count) says how many outcomes the generation
/// has seen; outcome p lives in slot `p mod P` (`P` slots, N rounded up to a power of two)
/// until a later outcome of that slot replaces it.
///
/// An entry says which outcome it is (generation and position) and whether it failed or
/// was slow; the totals count the failed and slow entries among the window's positions and
/// take every other outcome in the window for a fast success. So a fast success writes
/// its slot only to replace a failed or slow entry: a slot that holds a success already,
/// of whichever outcome, reads the same, and a plain success costs one update (the head).
pub(crate) struct Ring {
    head: AtomicU64,
    /// `N` rounded up to a power of two (outcome p lives in slot `p mod` this, and the
    /// window's `N` outcomes never share one).
    slots: Box<[AtomicU64]>,
    /// `N`.
    calls: u64,
}

/// The sums over a count window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingTotals {
    /// How many outcomes the generation has pushed.
    pub(crate) pushed: u64,
    /// How many of them are in the window.
    pub(crate) outcomes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Ring {
    pub(crate) fn new(calls: u32) -> Ring {
        Ring {
            head: AtomicU64::new(0),
            slots: (0..slots_for(calls)).map(|_| AtomicU64::new(0)).collect(),
            calls: u64::from(calls.max(1)),
        }
    }

    fn len(&self) -> u64 {
        self.calls
    }

    /// Appends an outcome of `generation`; `false` if the generation is over.
    #[inline(always)]
    pub(crate) fn push(
        &self,
        generation: u64,
        current: impl Fn() -> u64,
        failed: bool,
        slow: bool,
    ) -> bool {
        let Update::Applied(head) = update(&self.head, generation, current, |h| {
            Some(counts::incremented(h))
        }) else {
            return false;
        };
        let position = head - 1;
        #[allow(clippy::cast_possible_truncation)]
        let cell = &self.slots[(position as usize) & (self.slots.len() - 1)];
        let entry = ring_pack(generation, position, failed, slow);
        let mut word = cell.load(Ordering::Acquire);
        loop {
            // A success over a success changes nothing the totals read (see above). A
            // failed or slow entry is written over all the same, though it has left the
            // window: positions have 24 bits, and one left in place for 2^24 outcomes would
            // read as in the window again.
            if (entry | word) & (RING_FAILED | RING_SLOW) == 0 {
                return true;
            }
            // A later outcome of this generation got here first (this one was overtaken
            // by N others while it was being written): it has left the window already.
            let same_generation = (word >> 40) == (generation & POSITION_MASK);
            let theirs = (word >> 16) & POSITION_MASK;
            let ahead = theirs.wrapping_sub(position) & POSITION_MASK;
            if same_generation && ahead != 0 && ahead < (1 << (POSITION_BITS - 1)) {
                return true;
            }
            match cell.compare_exchange_weak(word, entry, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// The sums over the window of `generation`.
    pub(crate) fn totals(&self, generation: u64) -> RingTotals {
        let head = counts::unpack(self.head.load(Ordering::Acquire), generation).unwrap_or(0);
        let outcomes = head.min(self.len());
        let mut totals = RingTotals {
            pushed: head,
            outcomes,
            ..RingTotals::default()
        };
        for cell in &*self.slots {
            let word = cell.load(Ordering::Acquire);
            if (word >> 40) != (generation & POSITION_MASK) {
                continue;
            }
            let position = (word >> 16) & POSITION_MASK;
            let back = head.wrapping_sub(1).wrapping_sub(position) & POSITION_MASK;
            if back < outcomes {
                totals.failures += u64::from(word & RING_FAILED != 0);
                totals.slow += u64::from(word & RING_SLOW != 0);
            }
        }
        totals
    }

    /// Empties the window for a new generation (after it is published): entries of older
    /// generations are cleared, those of this generation or a newer one (written after a
    /// later transition, should this retag run late) are left alone. Entries written late
    /// by an old generation carry its tag and are never read as the new one's.
    pub(crate) fn retag(&self, generation: u64) {
        retag(&self.head, generation);
        for cell in &*self.slots {
            let word = cell.load(Ordering::Relaxed);
            if counts::tag_older(word >> 40, generation, POSITION_BITS) {
                let _ = cell.compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::counts::REQUESTS;

    #[test]
    fn a_request_counts_in_one_attempt_only_in_its_own_bucket_below_the_cap() {
        // 2 buckets in 2 slots: serials 5 and 7 share slot 1.
        let r = Rolling::new(2);
        assert_eq!(r.add(5, BUCKET_REQUESTS, || true), Some(5));
        let requests =
            |r: &Rolling| bucket_unpack(r.slots[1][BUCKET_REQUESTS].load(Ordering::Relaxed));
        let (cell, seen) = r.requests_cell(5);
        assert_eq!(bucket_unpack(seen), (5, 1));
        assert!(Rolling::count_request(cell, seen, 5));
        assert_eq!(requests(&r), (5, 2));
        // The cell changed since it was seen: no count, the general case takes over.
        assert!(!Rolling::count_request(cell, seen, 5));
        // Another bucket's slot, or a count at its cap, is left as it is.
        let (cell, seen) = r.requests_cell(7);
        assert!(!Rolling::count_request(cell, seen, 7));
        assert_eq!(requests(&r), (5, 2));
        r.slots[1][BUCKET_REQUESTS].store(bucket_pack(5, u64::from(u32::MAX)), Ordering::Relaxed);
        let (cell, seen) = r.requests_cell(5);
        assert!(!Rolling::count_request(cell, seen, 5));
        assert_eq!(requests(&r), (5, u64::from(u32::MAX)));
    }

    #[test]
    fn a_rolling_window_sums_the_last_buckets_only() {
        // 3 buckets in 4 slots: serial s lives in slot s mod 4.
        let r = Rolling::new(3);
        assert_eq!(r.slots.len(), 4);
        let yes = || true;
        for serial in [10, 10, 11, 12, 13] {
            assert_eq!(r.add(serial, BUCKET_REQUESTS, yes), Some(serial));
        }
        r.add(11, BUCKET_FAILURES, yes);
        assert_eq!(
            r.totals(13)[BUCKET_REQUESTS],
            3,
            "10 left when 13 came, though its slot still holds it"
        );
        assert_eq!(r.totals(13)[BUCKET_FAILURES], 1);
        assert_eq!(r.totals(14)[BUCKET_FAILURES], 0, "11 has left at 14");
        // 14 takes slot 2 from 10: an admission for 10 (its clock lags) counts in 14.
        assert_eq!(r.add(14, BUCKET_REQUESTS, yes), Some(14));
        assert_eq!(
            r.add(10, BUCKET_REQUESTS, yes),
            Some(14),
            "a lagging admission"
        );
        assert_eq!(
            r.add(10, BUCKET_SUCCESSES, yes),
            Some(10),
            "its own cell is free"
        );
        r.add(17, BUCKET_SUCCESSES, yes);
        assert_eq!(r.add(13, BUCKET_SUCCESSES, yes), None, "17 took the slot");
        r.remove_request(10);
        assert_eq!(
            r.totals(14)[BUCKET_REQUESTS],
            4,
            "12, 13 and the two of 14: nothing was taken back from 10"
        );
        r.remove_request(14);
        assert_eq!(r.totals(14)[BUCKET_REQUESTS], 3);
        assert_eq!(
            r.add(20, BUCKET_REQUESTS, || false),
            None,
            "generation over"
        );
    }

    #[test]
    fn the_bucket_offset_guess_is_checked_before_it_is_used() {
        let r = Rolling::new(10);
        let width = 7;
        for elapsed in (0..400)
            .chain((0..400).rev())
            .chain([u64::MAX, 3, u64::MAX - 1])
        {
            assert_eq!(r.offset(elapsed, width), elapsed / width, "at {elapsed}");
        }
        assert_eq!(r.offset(u64::MAX, 1), u64::MAX);
        assert_eq!(r.offset(0, 1), 0);
    }

    #[test]
    fn an_outcome_overtaken_in_its_slot_leaves_the_later_one_in_place() {
        // 3 outcomes in 4 slots: outcome 0 and outcome 4 share slot 0.
        let ring = Ring::new(3);
        let later = ring_pack(7, 4, true, true);
        ring.slots[0].store(later, Ordering::Relaxed);
        // Outcome 0 of generation 7 comes late, after outcome 4 wrote its slot.
        assert!(ring.push(7, || 7, false, false));
        assert_eq!(
            ring.slots[0].load(Ordering::Relaxed),
            later,
            "outcome 4 stays"
        );
        // An earlier outcome of the generation, or any outcome of another generation, in
        // the slot is replaced.
        for earlier in [
            ring_pack(7, 0xFF_FFFC, true, false),
            ring_pack(6, 5, true, false),
        ] {
            ring.slots[1].store(earlier, Ordering::Relaxed);
            let next = ring.totals(7).pushed;
            assert_eq!(next % 4, 1, "the next outcome goes to slot 1");
            assert!(ring.push(7, || 7, false, false));
            assert_eq!(
                ring.slots[1].load(Ordering::Relaxed),
                ring_pack(7, next, false, false)
            );
            // Three more outcomes bring the next push back to slot 1.
            for _ in 0..3 {
                assert!(ring.push(7, || 7, false, false));
            }
        }
    }

    #[test]
    fn a_success_writes_its_slot_only_over_a_failed_or_slow_entry() {
        // 2 outcomes in 2 slots.
        let ring = Ring::new(2);
        let old_success = ring_pack(3, 0, false, false);
        ring.slots[0].store(old_success, Ordering::Relaxed);
        // Outcome 0 of generation 4, a success, finds an older generation's success.
        assert!(ring.push(4, || 4, false, false));
        assert_eq!(
            ring.slots[0].load(Ordering::Relaxed),
            old_success,
            "left as it was"
        );
        // Outcome 1 fails; outcome 2 (slot 0 again) and outcome 3 (slot 1) succeed.
        assert!(ring.push(4, || 4, true, false));
        assert_eq!(ring.totals(4).failures, 1);
        assert!(ring.push(4, || 4, false, false));
        assert_eq!(ring.slots[0].load(Ordering::Relaxed), old_success);
        assert_eq!(
            ring.totals(4).failures,
            1,
            "outcome 1 is still in the window"
        );
        assert!(ring.push(4, || 4, false, false));
        assert_eq!(
            ring.slots[1].load(Ordering::Relaxed),
            ring_pack(4, 3, false, false),
            "the failure's slot is written over"
        );
        assert_eq!(
            ring.totals(4),
            RingTotals {
                pushed: 4,
                outcomes: 2,
                failures: 0,
                slow: 0
            }
        );
        // A slow success is written, and replaced by a success.
        assert!(ring.push(4, || 4, false, true));
        assert_eq!(ring.totals(4).slow, 1);
        assert!(ring.push(4, || 4, false, false));
        assert!(ring.push(4, || 4, false, false));
        assert_eq!(ring.totals(4).slow, 0);
    }

    #[test]
    fn a_count_window_keeps_its_last_n_outcomes_in_more_slots() {
        // 3 outcomes in 4 slots: outcome p lives in slot p mod 4.
        let ring = Ring::new(3);
        assert_eq!(ring.slots.len(), 4);
        for failed in [true, true, false, false, true] {
            assert!(ring.push(0, || 0, failed, false));
        }
        let totals = ring.totals(0);
        assert_eq!((totals.pushed, totals.outcomes, totals.failures), (5, 3, 1));
    }

    #[test]
    fn a_late_retag_never_wipes_a_newer_generations_count() {
        let t = Tally::new();
        // Generation 2 has counted while the winner of the transition to 1 was preempted
        // before its retag.
        t.update(REQUESTS, 2, || 2, |r| Some(r + 1));
        t.retag(1);
        assert_eq!(
            t.value(REQUESTS, 2),
            1,
            "the late retag left generation 2 alone"
        );
        t.retag(3);
        assert_eq!(t.value(REQUESTS, 3), 0);
        assert_eq!(t.value(REQUESTS, 2), 0, "an older count is retagged");
        let ring = Ring::new(2);
        assert!(ring.push(5, || 5, true, false));
        ring.retag(4);
        assert_eq!(
            ring.totals(5).failures,
            1,
            "the late ring retag left generation 5 alone"
        );
        ring.retag(6);
        assert_eq!(ring.totals(6), RingTotals::default());
    }

    #[test]
    fn a_count_window_keeps_the_last_n_outcomes() {
        let ring = Ring::new(3);
        let g = || 0;
        for (failed, slow) in [(true, false), (true, true), (false, false), (false, true)] {
            assert!(ring.push(0, g, failed, slow));
        }
        assert_eq!(
            ring.totals(0),
            RingTotals {
                pushed: 4,
                outcomes: 3,
                failures: 1,
                slow: 2
            }
        );
        ring.retag(1);
        assert_eq!(ring.totals(1), RingTotals::default());
        assert!(!ring.push(0, || 1, true, false), "stale");
        assert_eq!(ring.totals(1), RingTotals::default());
    }
}
