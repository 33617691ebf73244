//! `+++` escape detection with guard time, on the host → module byte stream.
//!
//! In transparent mode everything the host sends is payload, except `+++` framed by
//! silence: at least the guard time of quiet before the first `+`, all three `+`
//! within the guard time of the first, and at least the guard time of quiet after the
//! third. The module emulator runs this detector on its UART input; the host runs the
//! same detector to prove that a payload holding `+++` can never be taken for an
//! escape. Time is an argument (a monotonic timestamp in ns), never read here.
//!
//! Up to three `+` are *held* while they might still be an escape. Each [`Guard::feed`]
//! says what became of held bytes and of its own input; [`Guard::poll`] settles held
//! bytes when time alone decides (call it at [`Guard::deadline`]). All bytes of one
//! `feed` share one timestamp, so a candidate escape is always a run of feeds that
//! hold nothing but `+`.

/// The default guard time: 20 ms.
pub const DEFAULT_GUARD_NS: u64 = 20_000_000;

/// The length of the escape sequence, `+++`.
const ESCAPE_LEN: usize = 3;

/// What became of the bytes around one [`Guard::feed`], in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardFeed {
    /// An escape completed before this input: its trailing guard had already passed
    /// when the input arrived (poll was not called in time). The input is after it.
    pub escape_before: bool,
    /// This many previously held `+` bytes are data after all; pass them on first.
    pub release: usize,
    /// The input itself is data, to be passed on after the released bytes; when
    /// false it is now held as a possible escape.
    pub forward: bool,
}

/// What time alone decided about the held bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardPoll {
    /// Nothing to report.
    Idle,
    /// The held `+++` was an escape; the three bytes are consumed.
    Escape,
    /// This many held `+` bytes are data after all; pass them on.
    Release(usize),
}

/// The `+++` detector. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct Guard {
    guard_ns: u64,
    /// When the last byte arrived; `None` until the first byte (counts as silence).
    last_byte: Option<u64>,
    /// Number of `+` bytes held as a possible escape (0..=3).
    held: usize,
    /// When the first held `+` arrived.
    t_first: u64,
    /// When the last held `+` arrived.
    t_last: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new(DEFAULT_GUARD_NS)
    }
}

impl Guard {
    /// A detector with the given guard time. No byte seen yet counts as silence.
    pub fn new(guard_ns: u64) -> Self {
        Guard {
            guard_ns,
            last_byte: None,
            held: 0,
            t_first: 0,
            t_last: 0,
        }
    }

    /// Forgets held bytes and counts silence from `now_ns` (call on entering
    /// transparent mode).
    pub fn reset(&mut self, now_ns: u64) {
        self.held = 0;
        self.last_byte = Some(now_ns);
    }

    /// The guard time in ns.
    pub fn guard_ns(&self) -> u64 {
        self.guard_ns
    }

    /// How many `+` bytes are held as a possible escape.
    pub fn held(&self) -> usize {
        self.held
    }

    /// When [`Guard::poll`] should next be called, if anything is held.
    pub fn deadline(&self) -> Option<u64> {
        match self.held {
            0 => None,
            ESCAPE_LEN => Some(self.t_last.saturating_add(self.guard_ns)),
            _ => Some(self.t_first.saturating_add(self.guard_ns).saturating_add(1)),
        }
    }

    /// Settles held bytes by time alone.
    pub fn poll(&mut self, now_ns: u64) -> GuardPoll {
        if self.held == ESCAPE_LEN && now_ns.saturating_sub(self.t_last) >= self.guard_ns {
            self.held = 0;
            GuardPoll::Escape
        } else if self.held > 0
            && self.held < ESCAPE_LEN
            && now_ns.saturating_sub(self.t_first) > self.guard_ns
        {
            let n = self.held;
            self.held = 0;
            GuardPoll::Release(n)
        } else {
            GuardPoll::Idle
        }
    }

    /// Judges `data`, all of which arrived at `now_ns`.
    ///
    /// Empty `data` is no byte at all: nothing changes and nothing is reported.
    pub fn feed(&mut self, data: &[u8], now_ns: u64) -> GuardFeed {
        let mut result = GuardFeed {
            escape_before: false,
            release: 0,
            forward: true,
        };
        if data.is_empty() {
            return result;
        }
        let all_plus = data.iter().all(|&b| b == b'+');
        if self.held == ESCAPE_LEN {
            if now_ns.saturating_sub(self.t_last) >= self.guard_ns {
                result.escape_before = true;
            } else {
                // A byte (even a fourth `+`) inside the trailing guard: no escape.
                result.release = ESCAPE_LEN;
            }
            self.held = 0;
        } else if self.held > 0 {
            let total = self.held.saturating_add(data.len());
            if all_plus
                && total <= ESCAPE_LEN
                && now_ns.saturating_sub(self.t_first) <= self.guard_ns
            {
                self.held = total;
                self.t_last = now_ns;
                self.last_byte = Some(now_ns);
                result.forward = false;
                return result;
            }
            result.release = self.held;
            self.held = 0;
        }
        // Nothing held now: the input may start a new candidate.
        let silent_before = self
            .last_byte
            .is_none_or(|t| now_ns.saturating_sub(t) >= self.guard_ns);
        if silent_before && all_plus && data.len() <= ESCAPE_LEN {
            self.held = data.len();
            self.t_first = now_ns;
            self.t_last = now_ns;
            result.forward = false;
        }
        self.last_byte = Some(now_ns);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const G: u64 = 1_000;

    fn fed(escape_before: bool, release: usize, forward: bool) -> GuardFeed {
        GuardFeed {
            escape_before,
            release,
            forward,
        }
    }

    #[test]
    fn default_guard_is_twenty_ms() {
        assert_eq!(Guard::default().guard_ns(), 20_000_000);
    }

    #[test]
    fn plus_plus_plus_with_silence_around_is_an_escape() {
        let mut g = Guard::new(G);
        assert!(g.feed(b"data", 0).forward);
        assert_eq!(g.feed(b"+++", G), fed(false, 0, false));
        assert_eq!(g.held(), 3);
        assert_eq!(g.deadline(), Some(2 * G));
        assert_eq!(g.poll(2 * G - 1), GuardPoll::Idle);
        assert_eq!(g.poll(2 * G), GuardPoll::Escape);
        assert_eq!(g.held(), 0);
        assert_eq!(g.deadline(), None);
    }

    #[test]
    fn first_bytes_ever_count_as_after_silence() {
        let mut g = Guard::new(G);
        assert_eq!(g.feed(b"+++", 0), fed(false, 0, false));
        assert_eq!(g.poll(G), GuardPoll::Escape);
    }

    #[test]
    fn reset_counts_silence_from_now() {
        let mut g = Guard::new(G);
        g.reset(5 * G);
        assert_eq!(g.feed(b"+++", 5 * G + 1), fed(false, 0, true));
        g.reset(10 * G);
        assert_eq!(g.feed(b"+++", 11 * G), fed(false, 0, false));
    }

    #[test]
    fn reset_forgets_held_bytes() {
        let mut g = Guard::new(G);
        g.feed(b"++", 0);
        g.reset(1);
        assert_eq!(g.held(), 0);
        assert_eq!(g.poll(10 * G), GuardPoll::Idle);
    }

    #[test]
    fn plus_plus_plus_without_leading_silence_is_data() {
        let mut g = Guard::new(G);
        g.feed(b"x", 0);
        assert_eq!(g.feed(b"+++", G - 1), fed(false, 0, true));
        assert_eq!(g.held(), 0);
        assert_eq!(g.poll(10 * G), GuardPoll::Idle);
    }

    #[test]
    fn escape_needs_its_own_feed_not_a_tail_of_data() {
        let mut g = Guard::new(G);
        assert_eq!(g.feed(b"abc+++", 0), fed(false, 0, true));
        assert_eq!(g.poll(10 * G), GuardPoll::Idle);
    }

    #[test]
    fn byte_within_trailing_guard_releases_pluses_before_it() {
        let mut g = Guard::new(G);
        g.feed(b"+++", G);
        assert_eq!(g.feed(b"x", 2 * G - 1), fed(false, 3, true));
        assert_eq!(g.held(), 0);
        assert_eq!(g.poll(10 * G), GuardPoll::Idle);
    }

    #[test]
    fn byte_after_trailing_guard_reports_escape_before_it() {
        let mut g = Guard::new(G);
        g.feed(b"+++", G);
        assert_eq!(g.feed(b"x", 2 * G), fed(true, 0, true));
    }

    #[test]
    fn pluses_right_after_an_unpolled_escape_can_escape_again() {
        let mut g = Guard::new(G);
        g.feed(b"+++", 0);
        assert_eq!(g.feed(b"+++", G), fed(true, 0, false));
        assert_eq!(g.poll(2 * G), GuardPoll::Escape);
    }

    #[test]
    fn pluses_split_across_feeds_within_guard_are_an_escape() {
        let mut g = Guard::new(G);
        assert_eq!(g.feed(b"++", 0), fed(false, 0, false));
        assert_eq!(g.deadline(), Some(G + 1));
        assert_eq!(g.feed(b"+", G), fed(false, 0, false));
        assert_eq!(g.deadline(), Some(2 * G));
        assert_eq!(g.poll(2 * G), GuardPoll::Escape);
    }

    #[test]
    fn pluses_spread_over_more_than_guard_are_data() {
        let mut g = Guard::new(G);
        g.feed(b"+", 0);
        g.feed(b"+", G / 2);
        // The third `+` comes too late; the held two are data. The late `+` had only
        // G/2 + 1 of silence before it, so it is data too.
        assert_eq!(g.feed(b"+", G + 1), fed(false, 2, true));
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn late_plus_after_silence_starts_a_new_candidate() {
        let mut g = Guard::new(G);
        g.feed(b"+", 0);
        assert_eq!(g.feed(b"+", G + 1), fed(false, 1, false));
        assert_eq!(g.feed(b"++", G + 2), fed(false, 0, false));
        assert_eq!(g.poll(2 * G + 2), GuardPoll::Escape);
    }

    #[test]
    fn poll_releases_an_incomplete_candidate_after_guard() {
        let mut g = Guard::new(G);
        g.feed(b"++", 0);
        assert_eq!(g.poll(G), GuardPoll::Idle);
        assert_eq!(g.poll(G + 1), GuardPoll::Release(2));
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn fourth_plus_releases_all() {
        let mut g = Guard::new(G);
        g.feed(b"+++", 0);
        assert_eq!(g.feed(b"+", 1), fed(false, 3, true));
        let mut g = Guard::new(G);
        g.feed(b"++", 0);
        assert_eq!(g.feed(b"++", 1), fed(false, 2, true));
        let mut g = Guard::new(G);
        assert_eq!(g.feed(b"++++", 0), fed(false, 0, true));
    }

    #[test]
    fn time_going_backwards_never_panics_and_is_not_silence() {
        let mut g = Guard::new(G);
        g.feed(b"+++", 10 * G);
        assert_eq!(g.poll(0), GuardPoll::Idle);
        assert_eq!(g.feed(b"x", 0), fed(false, 3, true));
        assert_eq!(g.feed(b"+", u64::MAX), fed(false, 0, false));
        assert_eq!(g.deadline(), Some(u64::MAX));
        assert_eq!(g.poll(u64::MAX), GuardPoll::Idle);
    }

    #[test]
    fn empty_feed_changes_nothing() {
        let mut g = Guard::new(G);
        g.feed(b"x", 0);
        assert_eq!(g.feed(b"", G), fed(false, 0, true));
        assert_eq!(g.feed(b"+++", G - 1), fed(false, 0, true));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Feed(Vec<u8>, u64),
        Poll(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let step = prop_oneof![
            Just(0),
            Just(1),
            Just(G / 2),
            Just(G - 1),
            Just(G),
            Just(G + 1),
            Just(3 * G)
        ];
        let byte = prop_oneof![3 => Just(b'+'), 1 => any::<u8>()];
        prop_oneof![
            3 => (proptest::collection::vec(byte, 0..5), step.clone())
                .prop_map(|(d, t)| Op::Feed(d, t)),
            1 => step.prop_map(Op::Poll),
        ]
    }

    proptest! {
        #[test]
        fn output_is_input_minus_three_pluses_per_escape_in_order(
            ops in proptest::collection::vec(op(), 0..40)
        ) {
            let mut g = Guard::new(G);
            let mut now = 0u64;
            let mut input = Vec::new();
            // None marks an escape; Some(b) a byte passed on as data.
            let mut out: Vec<Option<u8>> = Vec::new();
            let mut held: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Feed(data, dt) => {
                        now += dt;
                        input.extend_from_slice(&data);
                        let r = g.feed(&data, now);
                        if data.is_empty() {
                            prop_assert_eq!(r, fed(false, 0, true));
                            continue;
                        }
                        if r.escape_before {
                            prop_assert_eq!(held.len(), 3);
                            held.clear();
                            out.push(None);
                        }
                        prop_assert!(r.release <= held.len());
                        out.extend(held.drain(..r.release).map(Some));
                        if r.forward {
                            prop_assert!(held.is_empty());
                            out.extend(data.iter().copied().map(Some));
                        } else {
                            prop_assert!(data.iter().all(|&b| b == b'+'));
                            held.extend_from_slice(&data);
                        }
                    }
                    Op::Poll(dt) => {
                        now += dt;
                        match g.poll(now) {
                            GuardPoll::Idle => {}
                            GuardPoll::Escape => {
                                prop_assert_eq!(held.len(), 3);
                                held.clear();
                                out.push(None);
                            }
                            GuardPoll::Release(n) => {
                                prop_assert_eq!(n, held.len());
                                out.extend(held.drain(..).map(Some));
                            }
                        }
                    }
                }
                prop_assert_eq!(g.held(), held.len());
                prop_assert!(held.len() <= 3);
            }
            out.extend(held.into_iter().map(Some));
            let restored: Vec<u8> = out
                .iter()
                .flat_map(|b| match b {
                    Some(b) => vec![*b],
                    None => b"+++".to_vec(),
                })
                .collect();
            prop_assert_eq!(restored, input);
        }
    }
}
