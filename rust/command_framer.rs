//! The module side of the UART: frames the host's bytes into command lines and raw
//! payload bytes.
//!
//! The emulator needs exactly what the firmware does with host input: command lines
//! (`AT…`), and, after a `>` prompt, exactly N raw bytes that may hold anything
//! (`\r\n`, `AT`, NUL). Byte grammar, in line mode:
//!
//! ```text
//! line  = content terminator           ; content: any bytes except CR and LF
//! terminator = CR LF | CR | LF         ; terminals often send CR alone
//! ```
//!
//! Empty lines are skipped. A line whose content is longer than the limit is
//! reported once as [`CoreError::LineTooLong`] (as soon as that is known) and dropped
//! up to and including its terminator; framing carries on with the next line. After
//! [`CommandFramer::expect_raw`]`(n)` the next `n` bytes are raw, delivered as they
//! arrive, then line mode resumes.
//!
//! A LF right after a CR that ended a line belongs to that line's terminator, even
//! when it arrives in a later push: a `\r\n` split across pushes behaves exactly like
//! an unsplit one (so such a LF is never taken as raw data).
//!
//! The framer is sans-I/O in the h11 style: [`CommandFramer::push`] only buffers,
//! [`CommandFramer::next`] returns one event at a time, and a partial line is never
//! rescanned, so feeding byte by byte costs O(bytes).

use std::ops::Range;

use crate::error::CoreError;

/// The longest command line the firmware accepts, in bytes (without terminator).
pub const MAX_COMMAND_LINE: usize = 256;

/// One framed piece of host input. Ranges index [`CommandFramer::bytes`] and stay
/// valid until the next [`CommandFramer::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEvent {
    /// A non-empty command line, without its terminator.
    Line(Range<usize>),
    /// Raw payload bytes requested by [`CommandFramer::expect_raw`]; a payload may
    /// arrive as several `Raw` events.
    Raw(Range<usize>),
}

/// Frames host input into command lines and raw bytes. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct CommandFramer {
    max_line: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` before this index are consumed (dropped at the next push).
    start: usize,
    /// The partial line from `start` has been searched up to here, so it is never
    /// rescanned.
    scanned: usize,
    /// Raw bytes still expected.
    raw_remaining: usize,
    /// Dropping an over-long line until its terminator.
    skipping: bool,
    /// The last terminator was a CR at the end of the buffer: a LF that follows is
    /// part of it.
    after_cr: bool,
}

impl Default for CommandFramer {
    fn default() -> Self {
        Self::new(MAX_COMMAND_LINE)
    }
}

impl CommandFramer {
    /// A framer refusing lines whose content is longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        CommandFramer {
            max_line,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            raw_remaining: 0,
            skipping: false,
            after_cr: false,
        }
    }

    /// Drops the bytes consumed by earlier events (invalidating their ranges), then
    /// buffers `data`.
    pub fn push(&mut self, data: &[u8]) {
        let consumed = self.start.min(self.buf.len());
        if consumed == self.buf.len() {
            self.buf.clear();
        } else if consumed > 0 {
            self.buf.drain(..consumed);
        }
        self.scanned = self.scanned.saturating_sub(consumed);
        self.start = 0;
        self.buf.extend_from_slice(data);
    }

    /// The bytes of an event's range; empty for a range that is no longer valid.
    pub fn bytes(&self, r: Range<usize>) -> &[u8] {
        self.buf.get(r).unwrap_or_default()
    }

    /// Makes the next `n` bytes raw data, whatever they are (replacing any raw count
    /// still outstanding). They are delivered as [`CommandEvent::Raw`] as they
    /// arrive; then line framing resumes.
    pub fn expect_raw(&mut self, n: usize) {
        self.raw_remaining = n;
    }

    /// Raw bytes still expected.
    pub fn raw_remaining(&self) -> usize {
        self.raw_remaining
    }

    /// Bytes pushed and not yet consumed by an event.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next event, `Ok(None)` when more input is needed, or an error for an
    /// over-long line (reported once; the framer stays usable).
    #[allow(
        clippy::should_implement_trait,
        reason = "h11-style next_event: Ok(None) means \"need more data\", not the end of a sequence"
    )]
    pub fn next(&mut self) -> Result<Option<CommandEvent>, CoreError> {
        loop {
            if self.after_cr {
                match self.buf.get(self.start) {
                    None => return Ok(None),
                    Some(&b) => {
                        self.after_cr = false;
                        if b == b'\n' {
                            self.consume_to(self.start + 1);
                        }
                    }
                }
            }
            if self.raw_remaining > 0 {
                let n = self.buffered().min(self.raw_remaining);
                if n == 0 {
                    return Ok(None);
                }
                let range = self.start..self.start + n;
                self.raw_remaining -= n;
                self.consume_to(range.end);
                return Ok(Some(CommandEvent::Raw(range)));
            }
            let from = self.scanned.max(self.start);
            let tail = self.buf.get(from..).unwrap_or_default();
            let Some(i) = memchr::memchr2(b'\r', b'\n', tail) else {
                return self.partial_line();
            };
            let end = from + i;
            let line = self.start..end;
            let terminator_len = match (self.buf.get(end), self.buf.get(end + 1)) {
                (Some(b'\r'), Some(b'\n')) => 2,
                (Some(b'\r'), None) => {
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            self.consume_to(end + terminator_len);
            if self.skipping {
                self.skipping = false;
                continue;
            }
            if line.len() > self.max_line {
                return Err(CoreError::LineTooLong {
                    limit: self.max_line,
                });
            }
            if !line.is_empty() {
                return Ok(Some(CommandEvent::Line(line)));
            }
        }
    }

    /// No terminator in the buffer: wait for more, or give up on an over-long line.
    fn partial_line(&mut self) -> Result<Option<CommandEvent>, CoreError> {
        let len = self.buf.len();
        if self.skipping {
            self.consume_to(len);
            return Ok(None);
        }
        if self.buffered() > self.max_line {
            self.skipping = true;
            self.consume_to(len);
            return Err(CoreError::LineTooLong {
                limit: self.max_line,
            });
        }
        self.scanned = len;
        Ok(None)
    }

    fn consume_to(&mut self, index: usize) {
        self.start = index.min(self.buf.len());
        self.scanned = self.start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Line(Vec<u8>),
        Raw(Vec<u8>),
        TooLong,
    }

    /// Drains every event; a line `R<n>` (n a digit) asks for n raw bytes, as
    /// AT+SOCKETSEND does. Adjacent raw pieces are joined.
    fn drain(f: &mut CommandFramer, events: &mut Vec<Ev>) {
        loop {
            match f.next() {
                Ok(None) => return,
                Ok(Some(CommandEvent::Line(r))) => {
                    let line = f.bytes(r).to_vec();
                    if let [b'R', d @ b'0'..=b'9'] = line[..] {
                        f.expect_raw(usize::from(d - b'0'));
                    }
                    events.push(Ev::Line(line));
                }
                Ok(Some(CommandEvent::Raw(r))) => {
                    assert!(!r.is_empty());
                    let bytes = f.bytes(r).to_vec();
                    if let Some(Ev::Raw(prev)) = events.last_mut() {
                        prev.extend_from_slice(&bytes);
                    } else {
                        events.push(Ev::Raw(bytes));
                    }
                }
                Err(CoreError::LineTooLong { limit }) => {
                    assert_eq!(limit, f.max_line);
                    events.push(Ev::TooLong);
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }

    fn frame_chunks<'a>(max_line: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Ev> {
        let mut f = CommandFramer::new(max_line);
        let mut events = Vec::new();
        for chunk in chunks {
            f.push(chunk);
            drain(&mut f, &mut events);
        }
        events
    }

    fn whole(max_line: usize, input: &[u8]) -> Vec<Ev> {
        frame_chunks(max_line, [input])
    }

    fn bytewise(max_line: usize, input: &[u8]) -> Vec<Ev> {
        frame_chunks(max_line, input.chunks(1))
    }

    fn line(s: &str) -> Ev {
        Ev::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn crlf_terminated_lines_are_framed_without_terminator() {
        assert_eq!(
            whole(256, b"AT\r\nAT+GMR\r\n"),
            vec![line("AT"), line("AT+GMR")]
        );
    }

    #[test]
    fn cr_only_and_lf_only_lines_are_framed() {
        assert_eq!(
            whole(256, b"ATE0\rAT+X\nAT+Y\r"),
            vec![line("ATE0"), line("AT+X"), line("AT+Y")]
        );
    }

    #[test]
    fn empty_lines_are_skipped() {
        assert_eq!(whole(256, b"\r\n\r\r\n\nAT\n\n"), vec![line("AT")]);
    }

    #[test]
    fn partial_line_waits_for_its_terminator() {
        let mut f = CommandFramer::default();
        f.push(b"AT+SOCK");
        assert_eq!(f.next(), Ok(None));
        assert_eq!(f.buffered(), 7);
        f.push(b"ET?\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT+SOCKET?");
        assert_eq!(f.next(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn bytewise_feed_gives_same_lines() {
        let input = b"AT\r\nATE1\rAT+WJAP=\"ssid\",\"pw\"\n\r\nAT+SOCKET?\r\n";
        assert_eq!(bytewise(256, input), whole(256, input));
        assert_eq!(whole(256, input).len(), 4);
    }

    #[test]
    fn crlf_split_across_pushes_is_one_terminator() {
        let mut f = CommandFramer::default();
        f.push(b"AT\r");
        assert_eq!(f.next(), Ok(Some(CommandEvent::Line(0..2))));
        assert_eq!(f.next(), Ok(None));
        f.push(b"\nAT+X\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT+X");
    }

    #[test]
    fn lf_after_split_crlf_is_not_raw_data() {
        let mut f = CommandFramer::default();
        f.push(b"AT+SOCKETSEND=1,2\r");
        assert!(matches!(f.next(), Ok(Some(CommandEvent::Line(_)))));
        f.expect_raw(2);
        f.push(b"\nhi");
        let Ok(Some(CommandEvent::Raw(r))) = f.next() else {
            panic!("expected raw data");
        };
        assert_eq!(f.bytes(r), b"hi");
    }

    #[test]
    fn line_at_the_limit_is_accepted() {
        let input = [b"x".repeat(8), b"\r\n".to_vec()].concat();
        assert_eq!(whole(8, &input), vec![Ev::Line(b"x".repeat(8))]);
        assert_eq!(bytewise(8, &input), vec![Ev::Line(b"x".repeat(8))]);
    }

    #[test]
    fn overlong_line_resyncs_at_next_line_end() {
        let input = [
            b"AT\r\n".to_vec(),
            b"y".repeat(20),
            b"\r\nAT+OK\r\n".to_vec(),
        ]
        .concat();
        let expected = vec![line("AT"), Ev::TooLong, line("AT+OK")];
        assert_eq!(whole(8, &input), expected);
        assert_eq!(bytewise(8, &input), expected);
    }

    #[test]
    fn overlong_partial_line_is_reported_before_its_end_arrives() {
        let mut f = CommandFramer::new(4);
        f.push(b"abcd");
        assert_eq!(f.next(), Ok(None));
        f.push(b"e");
        assert_eq!(f.next(), Err(CoreError::LineTooLong { limit: 4 }));
        assert_eq!(f.next(), Ok(None));
        f.push(b"more junk");
        assert_eq!(f.next(), Ok(None));
        assert_eq!(f.buffered(), 0);
        f.push(b"\r\nAT\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT");
    }

    #[test]
    fn skipped_line_ending_in_split_crlf_leaves_no_stray_line() {
        let input = [b"z".repeat(10), b"\r".to_vec()].concat();
        let mut chunks: Vec<&[u8]> = vec![&input];
        chunks.push(b"\nAT\r\n");
        assert_eq!(frame_chunks(4, chunks), vec![Ev::TooLong, line("AT")]);
    }

    #[test]
    fn raw_mode_delivers_exactly_n_bytes_then_lines_resume() {
        let payload = b"\r\nAT\0OK\r";
        let mut f = CommandFramer::default();
        f.push(b"AT+SOCKETSEND=1,8\r\n");
        assert!(matches!(f.next(), Ok(Some(CommandEvent::Line(_)))));
        f.expect_raw(payload.len());
        assert_eq!(f.raw_remaining(), 8);
        let mut got = Vec::new();
        for chunk in payload.chunks(3) {
            f.push(chunk);
            while let Ok(Some(ev)) = f.next() {
                let CommandEvent::Raw(r) = ev else {
                    panic!("expected raw data, got {ev:?}");
                };
                got.extend_from_slice(f.bytes(r));
            }
        }
        assert_eq!(got, payload);
        assert_eq!(f.raw_remaining(), 0);
        f.push(b"\nAT\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT");
    }

    #[test]
    fn raw_bytes_in_the_same_push_as_the_line_before_them() {
        let mut f = CommandFramer::default();
        f.push(b"AT+SOCKETSEND=1,5\r\nhello\r\nAT\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT+SOCKETSEND=1,5");
        f.expect_raw(5);
        let Ok(Some(CommandEvent::Raw(r))) = f.next() else {
            panic!("expected raw data");
        };
        assert_eq!(f.bytes(r), b"hello");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        assert_eq!(f.bytes(r), b"AT");
        assert_eq!(f.next(), Ok(None));
    }

    #[test]
    fn raw_mode_never_buffers_the_whole_payload() {
        let mut f = CommandFramer::default();
        f.expect_raw(1_000_000);
        for _ in 0..1000 {
            f.push(&[0xAA; 100]);
            assert!(matches!(f.next(), Ok(Some(CommandEvent::Raw(r))) if r.len() == 100));
            assert_eq!(f.next(), Ok(None));
            assert_eq!(f.buffered(), 0);
        }
        assert_eq!(f.raw_remaining(), 900_000);
    }

    #[test]
    fn stale_range_reads_as_empty_instead_of_panicking() {
        let mut f = CommandFramer::default();
        f.push(b"AT\r\n");
        let Ok(Some(CommandEvent::Line(r))) = f.next() else {
            panic!("expected a line");
        };
        f.push(b"");
        assert_eq!(f.bytes(r), b"");
    }

    #[test]
    fn bytewise_long_partial_line_scans_each_byte_once() {
        // With max_line = usize::MAX the partial line just grows; the remembered scan
        // position keeps this linear (it would time out if rescanned each push).
        let mut f = CommandFramer::new(usize::MAX);
        for _ in 0..200_000 {
            f.push(b"x");
            assert_eq!(f.next(), Ok(None));
        }
        f.push(b"\n");
        assert!(matches!(f.next(), Ok(Some(CommandEvent::Line(r))) if r.len() == 200_000));
    }

    fn host_input() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"AT".to_vec()),
            Just(b"R3".to_vec()),
            Just(b"R0".to_vec()),
            Just(b"\0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..4),
            Just(b"x".repeat(7)),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(
            input in host_input(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&input[at..cut]);
                at = cut;
            }
            chunks.push(&input[at..]);
            let expected = whole(8, &input);
            prop_assert_eq!(frame_chunks(8, chunks), expected.clone());
            prop_assert_eq!(bytewise(8, &input), expected);
        }

        #[test]
        fn lines_never_hold_terminators_or_exceed_the_limit(input in host_input()) {
            for ev in bytewise(8, &input) {
                if let Ev::Line(l) = ev {
                    prop_assert!(!l.is_empty() && l.len() <= 8);
                    prop_assert!(!l.contains(&b'\r') && !l.contains(&b'\n'));
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in any::<Vec<u8>>(), raw in 0usize..64) {
            let mut f = CommandFramer::new(16);
            f.expect_raw(raw);
            let mut events = Vec::new();
            f.push(&input);
            drain(&mut f, &mut events);
        }
    }
}
