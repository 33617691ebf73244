//! The grammar of the module's output, as a scanner over a byte slice.
//!
//! [`Scanner`] holds where framing stands (the position, the modes, an error code
//! carried into the next `ERROR`) but not the bytes: every call is given the slice to
//! read. The same rules so frame the framer's own buffer and, without a copy, a
//! caller's input (see [`ResponseFramer::frame_in_place`](super::ResponseFramer)).
//! The grammar itself is documented on the `response_framer` module.

use memchr::{memchr, memmem};

use super::{CommandName, Frame, PayloadSource, Span, TRANSPARENT_EXIT};
use crate::error::CoreError;

/// Longest number we read in a payload header (id or length), in digits.
const MAX_DIGITS: usize = 20;

/// The bytes a `complete_len` probe takes when it cannot tell how far the partial
/// frame reaches (a payload header cut short): more than any header needs.
const PROBE: usize = 64;

/// How far ahead of the frame being read its bytes are asked into the cache. A payload
/// frame jumps over its data unread, so the frame after it starts on a line nothing has
/// touched: without the hint each such frame began with a wait on memory (a fifth of
/// the time framing a payload-dense stream that is not in the cache).
const PREFETCH_AHEAD: usize = 2048;
const CACHE_LINE: usize = 64;

const PAYLOAD_MARKERS: [(&[u8], PayloadSource); 3] = [
    (b"+SOCKETREAD,", PayloadSource::SocketRead),
    (b"+EVENT:SocketDown,", PayloadSource::SocketDown),
    (b"+SSLCRET:", PayloadSource::SslCert),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Lines,
    Passthrough,
}

/// What a payload header at the start of the buffer turned out to be.
enum Header {
    NeedMore,
    Plain,
    /// `<marker><id>,<len>,` and the payload begins at `data_start`.
    Payload {
        id: u32,
        len: u64,
        data_start: usize,
    },
}

/// Where framing stands in the slice it is given; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    /// Everything before `pos` has been framed.
    pub(crate) pos: usize,
    /// The partial line at `pos` holds no `\n` before `scanned` (never rescanned).
    pub(crate) scanned: usize,
    /// The bytes before this have been asked into the cache (a hint only: see
    /// [`PREFETCH_AHEAD`]).
    pub(crate) prefetched: usize,
    /// Dropping input up to the next `\n` after an error.
    skipping: bool,
    /// A `>` was just framed: one following space belongs to it.
    after_prompt: bool,
    pub(crate) mode: Mode,
    /// The next prompt starts passthrough (AT+SOCKETTT / auto-transparent boot).
    pub(crate) armed: bool,
    /// A `+++` went out: watch the data for the module's `\r\nOK\r\n`.
    pub(crate) exit_pending: bool,
    /// `+CMD:<code>` seen: carried into a directly following `ERROR`.
    pending_code: Option<(CommandName, u32)>,
    pub(crate) max_line: usize,
    pub(crate) max_payload: usize,
}

impl Scanner {
    pub(crate) fn new(max_line: usize, max_payload: usize) -> Self {
        Scanner {
            pos: 0,
            scanned: 0,
            prefetched: 0,
            skipping: false,
            after_prompt: false,
            mode: Mode::Lines,
            armed: false,
            exit_pending: false,
            pending_code: None,
            max_line,
            max_payload,
        }
    }

    /// The slice the positions index lost its first `by` bytes.
    pub(crate) fn rebase(&mut self, by: usize) {
        self.pos = self.pos.saturating_sub(by);
        self.scanned = self.scanned.saturating_sub(by);
        self.prefetched = self.prefetched.saturating_sub(by);
    }

    /// Asks the cache for the lines up to [`PREFETCH_AHEAD`] bytes past `pos` (worth it
    /// on input framed where it lies; the framer's own buffer was just written).
    pub(crate) fn prefetch_ahead(&mut self, buf: &[u8]) {
        let until = self.pos.saturating_add(PREFETCH_AHEAD).min(buf.len());
        let mut at = self.prefetched.max(self.pos);
        while at < until {
            prefetch(buf, at);
            at += CACHE_LINE;
        }
        self.prefetched = at;
    }

    /// Starts passthrough now: every following byte is data.
    pub(crate) fn enter_passthrough(&mut self) {
        self.mode = Mode::Passthrough;
        self.armed = false;
        self.exit_pending = false;
    }

    /// Back to lines without waiting for the exit reply.
    pub(crate) fn leave_passthrough(&mut self) {
        self.mode = Mode::Lines;
        self.armed = false;
        self.exit_pending = false;
    }

    /// How many leading bytes of `input` complete the partial frame `buf[pos..]`:
    /// exact for a line (up to its `\n`) and for a payload whose header is in, at most
    /// [`PROBE`] while a header is cut short, all of `input` where it cannot end sooner.
    pub(crate) fn complete_len(&self, buf: &[u8], input: &[u8]) -> usize {
        let avail = buf.get(self.pos..).unwrap_or(&[]);
        let to_line_end = || memchr(b'\n', input).map_or(input.len(), |i| i + 1);
        if self.mode == Mode::Passthrough {
            // only an exit reply cut short is ever held back
            return input.len();
        }
        if self.skipping || avail.first() != Some(&b'+') {
            return to_line_end();
        }
        for (marker, _) in PAYLOAD_MARKERS {
            if avail.len() < marker.len() {
                if marker.starts_with(avail) {
                    return PROBE.min(input.len());
                }
                continue;
            }
            if !avail.starts_with(marker) {
                continue;
            }
            return match parse_header(avail, marker.len()) {
                Header::NeedMore => PROBE.min(input.len()),
                Header::Plain => to_line_end(),
                Header::Payload {
                    len, data_start, ..
                } => {
                    let end = (data_start as u64).saturating_add(len);
                    let more = end.saturating_sub(avail.len() as u64);
                    usize::try_from(more).map_or(input.len(), |more| more.min(input.len()))
                }
            };
        }
        to_line_end()
    }

    /// The next frame, `Ok(None)` when more input is needed. After an `Err` the framer
    /// has already resynchronised: keep calling.
    pub(crate) fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, CoreError> {
        loop {
            let Some(&first) = buf.get(self.pos) else {
                return Ok(None);
            };
            if self.mode == Mode::Passthrough {
                return Ok(self.next_passthrough(buf));
            }
            if self.skipping {
                self.skip_to_line_end(buf);
                continue;
            }
            if self.after_prompt {
                self.after_prompt = false;
                if first == b' ' {
                    self.pos += 1;
                    self.scanned = self.scanned.max(self.pos);
                    continue;
                }
            }
            match first {
                b'\r' | b'\n' => {
                    self.pos += 1;
                    self.scanned = self.scanned.max(self.pos);
                }
                b'>' => {
                    self.pos += 1;
                    self.scanned = self.scanned.max(self.pos);
                    if self.armed {
                        self.enter_passthrough();
                    } else {
                        self.after_prompt = true;
                    }
                    return Ok(Some(Frame::Prompt));
                }
                b'+' => match self.payload_frame(buf) {
                    Ok(Some(Some(frame))) => return Ok(Some(frame)),
                    Ok(Some(None)) => return self.line_frame(buf),
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e),
                },
                _ => return self.line_frame(buf),
            }
        }
    }

    fn skip_to_line_end(&mut self, buf: &[u8]) {
        let from = self.scanned.max(self.pos);
        match memchr(b'\n', buf.get(from..).unwrap_or(&[])) {
            Some(i) => {
                self.pos = from + i + 1;
                self.skipping = false;
            }
            None => self.pos = buf.len(),
        }
        self.scanned = self.pos;
    }

    /// `Ok(None)`: need more input; `Ok(Some(None))`: not a payload frame, read a line.
    fn payload_frame(&mut self, buf: &[u8]) -> Result<Option<Option<Frame>>, CoreError> {
        let avail = buf.get(self.pos..).unwrap_or(&[]);
        for (marker, source) in PAYLOAD_MARKERS {
            if avail.len() < marker.len() {
                if marker.starts_with(avail) {
                    return Ok(None);
                }
                continue;
            }
            if !avail.starts_with(marker) {
                continue;
            }
            return match parse_header(avail, marker.len()) {
                Header::NeedMore => Ok(None),
                Header::Plain => Ok(Some(None)),
                Header::Payload {
                    id,
                    len,
                    data_start,
                } => {
                    if len > self.max_payload as u64 {
                        self.skipping = true;
                        self.pos += data_start;
                        self.scanned = self.pos;
                        return Err(CoreError::PayloadTooLong {
                            declared: len,
                            limit: self.max_payload,
                        });
                    }
                    // len <= max_payload, which is a usize
                    let len = len as usize;
                    if avail.len() - data_start < len {
                        return Ok(None);
                    }
                    let start = self.pos;
                    let header = Span::new(start, start + data_start - 1);
                    let payload = Span::new(start + data_start, start + data_start + len);
                    self.pos = payload.end;
                    self.scanned = self.pos;
                    self.pending_code = None;
                    Ok(Some(Some(Frame::Payload {
                        source,
                        id,
                        header,
                        payload,
                    })))
                }
            };
        }
        Ok(Some(None))
    }

    fn line_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, CoreError> {
        let from = self.scanned.max(self.pos);
        let Some(i) = memchr(b'\n', buf.get(from..).unwrap_or(&[])) else {
            self.scanned = buf.len();
            // a trailing CR may be the start of the line end: it does not count yet
            let cr = usize::from(buf.last() == Some(&b'\r'));
            if buf.len() - self.pos - cr > self.max_line {
                self.skipping = true;
                self.pos = buf.len();
                return Err(CoreError::LineTooLong {
                    limit: self.max_line,
                });
            }
            return Ok(None);
        };
        let start = self.pos;
        let mut end = from + i;
        self.pos = end + 1;
        self.scanned = self.pos;
        if end > start && buf.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        if end - start > self.max_line {
            return Err(CoreError::LineTooLong {
                limit: self.max_line,
            });
        }
        let span = Span::new(start, end);
        Ok(Some(self.classify(buf, span)))
    }

    fn classify(&mut self, buf: &[u8], line: Span) -> Frame {
        let text = buf.get(line.start..line.end).unwrap_or(&[]);
        let pending = self.pending_code.take();
        match text {
            b"OK" => Frame::Ok { line },
            b"ERROR" => Frame::Error {
                line,
                command: pending.map(|(name, _)| name),
                code: pending.map(|(_, code)| code),
            },
            b"ready" => Frame::Ready { line },
            _ if text.starts_with(b"+EVENT:") => {
                self.pending_code = pending;
                Frame::Urc { line }
            }
            // "AT", "ATE0", "AT+…" are echo; "AT version:…" (AT+GMR) is information
            [b'A' | b'a', b'T' | b't', rest @ ..] if !matches!(rest.first(), Some(b' ' | b':')) => {
                Frame::Echo { line }
            }
            _ if text.starts_with(b"[Busy]") => Frame::Busy { line },
            _ => {
                if let Some(digits) = text.strip_prefix(b"connect success ConID=") {
                    if let Some(con_id) = parse_u32(digits) {
                        return Frame::Connect { line, con_id };
                    }
                }
                self.pending_code = error_code_line(text);
                Frame::Info { line }
            }
        }
    }

    fn next_passthrough(&mut self, buf: &[u8]) -> Option<Frame> {
        let start = self.pos;
        let avail = buf.get(start..).unwrap_or(&[]);
        if !self.exit_pending {
            self.pos = buf.len();
            self.scanned = self.pos;
            return Some(Frame::Data {
                payload: Span::new(start, self.pos),
            });
        }
        let data_len = match memmem::find(avail, TRANSPARENT_EXIT) {
            Some(0) => {
                self.pos += TRANSPARENT_EXIT.len();
                self.scanned = self.pos;
                self.leave_passthrough();
                return Some(Frame::TransparentExit);
            }
            Some(i) => i,
            None => avail.len() - partial_match_len(avail, TRANSPARENT_EXIT),
        };
        if data_len == 0 {
            return None;
        }
        self.pos += data_len;
        self.scanned = self.pos;
        Some(Frame::Data {
            payload: Span::new(start, self.pos),
        })
    }
}

/// A hint that `buf[at]` will be read soon (nothing on targets without the instruction).
#[inline]
fn prefetch(buf: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = buf.get(at) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch never faults and changes no memory; the address is in `buf`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(byte).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, at);
}

/// Reads `<id>,<len>` after a marker, then expects `,` (payload follows).
fn parse_header(avail: &[u8], after_marker: usize) -> Header {
    let rest = avail.get(after_marker..).unwrap_or(&[]);
    let (id, used_id) = match read_number(rest) {
        Number::Complete(n, used) => (n, used),
        Number::NeedMore => return Header::NeedMore,
        Number::Invalid => return Header::Plain,
    };
    match rest.get(used_id) {
        None => return Header::NeedMore,
        Some(b',') => {}
        Some(_) => return Header::Plain,
    }
    let Ok(id) = u32::try_from(id) else {
        return Header::Plain;
    };
    let rest_len = rest.get(used_id + 1..).unwrap_or(&[]);
    let (len, used_len) = match read_number(rest_len) {
        Number::Complete(n, used) => (n, used),
        Number::NeedMore => return Header::NeedMore,
        Number::Invalid => return Header::Plain,
    };
    match rest_len.get(used_len) {
        None => Header::NeedMore,
        Some(b',') => Header::Payload {
            id,
            len,
            data_start: after_marker + used_id + 1 + used_len + 1,
        },
        Some(_) => Header::Plain,
    }
}

enum Number {
    /// The value and how many digits it took; a non-digit follows.
    Complete(u64, usize),
    NeedMore,
    Invalid,
}

fn read_number(bytes: &[u8]) -> Number {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_DIGITS {
        return Number::Invalid;
    }
    if digits == bytes.len() {
        return Number::NeedMore;
    }
    if digits == 0 {
        return Number::Invalid;
    }
    let value = bytes[..digits].iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Number::Complete(value, digits)
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    u32::try_from(value).ok()
}

/// `+CMD:<digits>` → the command name and the code.
fn error_code_line(text: &[u8]) -> Option<(CommandName, u32)> {
    let body = text.strip_prefix(b"+")?;
    let colon = memchr(b':', body)?;
    let (name, code) = (body.get(..colon)?, body.get(colon + 1..)?);
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return None;
    }
    Some((CommandName::from_bytes(name)?, parse_u32(code)?))
}

/// Length of the longest suffix of `data` that is a proper prefix of `pattern`.
fn partial_match_len(data: &[u8], pattern: &[u8]) -> usize {
    let longest = pattern.len().saturating_sub(1).min(data.len());
    (1..=longest)
        .rev()
        .find(|&k| data.ends_with(&pattern[..k]))
        .unwrap_or(0)
}
