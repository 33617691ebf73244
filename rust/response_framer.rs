//! Response framer: the module's output (module → host) cut into frames.
//!
//! Sans-I/O: callers [`push`](ResponseFramer::push) whatever bytes the UART gave them,
//! in any chunking, then call [`next_frame`](ResponseFramer::next_frame) until it
//! returns `Ok(None)` ("need more data"). Frames refer to the framer's buffer through
//! [`Span`]s, valid until the next `push` (or hand the consumed bytes over with
//! [`take_consumed`](ResponseFramer::take_consumed) and the spans index that vector).
//!
//! Grammar, classified at the start of every line, in this order:
//!
//! ```text
//! CR | LF                         skipped (empty lines)
//! ">" [" "]                       Prompt (no line end); in transparent-armed state the
//!                                 bytes after it are passthrough data
//! "+SOCKETREAD," id "," len "," <len raw bytes>          Payload (SocketRead)
//! "+EVENT:SocketDown," id "," len "," <len raw bytes>    Payload (SocketDown, active mode)
//! "+SSLCRET:" type "," len "," <len raw bytes>           Payload (SslCert)
//! line "\n" (a trailing "\r" is dropped), then by content:
//!   "OK" → Ok        "ERROR" → Error (code of a directly preceding "+CMD:<digits>")
//!   "+EVENT:…" → Urc   "AT…"/"at…" → Echo (not "AT " / "AT:")   "ready" → Ready
//!   "[Busy]…" → Busy
//!   "connect success ConID=<n>" → Connect   anything else → Info
//! ```
//!
//! In passthrough mode (transparent streaming) every byte is data, except that once an
//! exit is pending the module's `\r\nOK\r\n` reply ends the data and passthrough.
//!
//! Memory is bounded: a line may be at most `max_line` bytes and a payload at most
//! `max_payload`; what stays buffered between pushes is at most one partial frame.
//! Exceeding a limit is a [`CoreError`], after which the framer drops input up to the
//! next line end and carries on: it never grows, never panics.

use crate::error::CoreError;
use memchr::{memchr, memmem};

/// Default longest line accepted from the module (query rows, info lines, echo).
pub const DEFAULT_MAX_LINE: usize = 4096;
/// Default largest length-prefixed payload (one UDP datagram fits).
pub const DEFAULT_MAX_PAYLOAD: usize = 65536;
/// The module's reply that ends transparent mode after a `+++`.
pub const TRANSPARENT_EXIT: &[u8] = b"\r\nOK\r\n";
/// Longest number we read in a payload header (id or length), in digits.
const MAX_DIGITS: usize = 20;

/// A byte range of the framer's buffer (or of [`ResponseFramer::take_consumed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The command name of a `+CMD:<code>` error line, kept inline so it outlives the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandName {
    bytes: [u8; 23],
    len: u8,
}

impl CommandName {
    fn from_bytes(name: &[u8]) -> Option<Self> {
        let mut out = CommandName::default();
        let dst = out.bytes.get_mut(..name.len())?;
        dst.copy_from_slice(name);
        out.len = name.len() as u8;
        Some(out)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which length-prefixed reply carried a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadSource {
    /// `+SOCKETREAD,<id>,<len>,<data>` (reply to AT+SOCKETREAD)
    SocketRead,
    /// `+EVENT:SocketDown,<id>,<len>,<data>` (active receive mode URC)
    SocketDown,
    /// `+SSLCRET:<type>,<len>,<data>` (certificate query reply)
    SslCert,
}

const PAYLOAD_MARKERS: [(&[u8], PayloadSource); 3] = [
    (b"+SOCKETREAD,", PayloadSource::SocketRead),
    (b"+EVENT:SocketDown,", PayloadSource::SocketDown),
    (b"+SSLCRET:", PayloadSource::SslCert),
];

/// One unit of the module's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Ok {
        line: Span,
    },
    Error {
        line: Span,
        command: Option<CommandName>,
        code: Option<u32>,
    },
    Echo {
        line: Span,
    },
    Info {
        line: Span,
    },
    Ready {
        line: Span,
    },
    Busy {
        line: Span,
    },
    Connect {
        line: Span,
        con_id: u32,
    },
    Prompt,
    /// `+EVENT:…` without a payload; `line` is the whole line.
    Urc {
        line: Span,
    },
    /// `header` is e.g. `+SOCKETREAD,1,21` (no trailing comma).
    Payload {
        source: PayloadSource,
        id: u32,
        header: Span,
        payload: Span,
    },
    /// Transparent-mode bytes from the peer.
    Data {
        payload: Span,
    },
    /// The module's `\r\nOK\r\n` after a `+++`: transparent mode is over.
    TransparentExit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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

/// Incremental framer of the module's output; see the module docs for the grammar.
#[derive(Debug, Clone)]
pub struct ResponseFramer {
    buf: Vec<u8>,
    /// Everything before `pos` has been framed.
    pos: usize,
    /// The partial line at `pos` holds no `\n` before `scanned` (never rescanned).
    scanned: usize,
    /// Dropping input up to the next `\n` after an error.
    skipping: bool,
    /// A `>` was just framed: one following space belongs to it.
    after_prompt: bool,
    mode: Mode,
    /// The next prompt starts passthrough (AT+SOCKETTT / auto-transparent boot).
    armed: bool,
    /// A `+++` went out: watch the data for the module's `\r\nOK\r\n`.
    exit_pending: bool,
    /// `+CMD:<code>` seen: carried into a directly following `ERROR`.
    pending_code: Option<(CommandName, u32)>,
    max_line: usize,
    max_payload: usize,
}

impl Default for ResponseFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE, DEFAULT_MAX_PAYLOAD)
    }
}

impl ResponseFramer {
    pub fn new(max_line: usize, max_payload: usize) -> Self {
        ResponseFramer {
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
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

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Appends module output. Spans of earlier frames are invalid afterwards.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scanned = self.scanned.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet framed (a partial frame).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes a span refers to.
    pub fn bytes(&self, span: Span) -> &[u8] {
        self.buf.get(span.start..span.end).unwrap_or(&[])
    }

    /// Hands over the framed bytes; the spans returned so far index the returned vector.
    /// The framer keeps only the unframed tail. Lets bindings share the bytes, uncopied.
    pub fn take_consumed(&mut self) -> Vec<u8> {
        let tail = self.buf.get(self.pos..).unwrap_or(&[]).to_vec();
        let mut head = std::mem::replace(&mut self.buf, tail);
        head.truncate(self.pos);
        self.scanned = self.scanned.saturating_sub(self.pos);
        self.pos = 0;
        head
    }

    /// Forgets everything buffered and every mode (the module was reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.max_line, self.max_payload);
    }

    /// The next `>` prompt starts passthrough (sent AT+SOCKETTT, or auto-transparent boot).
    pub fn arm_transparent(&mut self) {
        self.armed = true;
    }

    /// Starts passthrough now: every following byte is data.
    pub fn enter_passthrough(&mut self) {
        self.mode = Mode::Passthrough;
        self.armed = false;
        self.exit_pending = false;
    }

    /// A `+++` went out: from now on the module's `\r\nOK\r\n` ends passthrough.
    pub fn begin_exit(&mut self) {
        if self.mode == Mode::Passthrough {
            self.exit_pending = true;
        }
    }

    /// Back to lines without waiting for the exit reply (e.g. after it timed out).
    pub fn leave_passthrough(&mut self) {
        self.mode = Mode::Lines;
        self.armed = false;
        self.exit_pending = false;
    }

    pub fn in_passthrough(&self) -> bool {
        self.mode == Mode::Passthrough
    }

    pub fn exit_pending(&self) -> bool {
        self.exit_pending
    }

    pub fn armed(&self) -> bool {
        self.armed
    }

    /// The next frame, `Ok(None)` when more input is needed. After an `Err` the framer
    /// has already resynchronised: keep calling.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CoreError> {
        loop {
            let Some(&first) = self.buf.get(self.pos) else {
                return Ok(None);
            };
            if self.mode == Mode::Passthrough {
                return Ok(self.next_passthrough());
            }
            if self.skipping {
                self.skip_to_line_end();
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
                b'+' => match self.payload_frame() {
                    Ok(Some(Some(frame))) => return Ok(Some(frame)),
                    Ok(Some(None)) => return self.line_frame(),
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e),
                },
                _ => return self.line_frame(),
            }
        }
    }

    fn skip_to_line_end(&mut self) {
        let from = self.scanned.max(self.pos);
        match memchr(b'\n', self.buf.get(from..).unwrap_or(&[])) {
            Some(i) => {
                self.pos = from + i + 1;
                self.skipping = false;
            }
            None => self.pos = self.buf.len(),
        }
        self.scanned = self.pos;
    }

    /// `Ok(None)`: need more input; `Ok(Some(None))`: not a payload frame, read a line.
    fn payload_frame(&mut self) -> Result<Option<Option<Frame>>, CoreError> {
        let avail = self.buf.get(self.pos..).unwrap_or(&[]);
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

    fn line_frame(&mut self) -> Result<Option<Frame>, CoreError> {
        let from = self.scanned.max(self.pos);
        let Some(i) = memchr(b'\n', self.buf.get(from..).unwrap_or(&[])) else {
            self.scanned = self.buf.len();
            // a trailing CR may be the start of the line end: it does not count yet
            let cr = usize::from(self.buf.last() == Some(&b'\r'));
            if self.buf.len() - self.pos - cr > self.max_line {
                self.skipping = true;
                self.pos = self.buf.len();
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
        if end > start && self.buf.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        if end - start > self.max_line {
            return Err(CoreError::LineTooLong {
                limit: self.max_line,
            });
        }
        let span = Span::new(start, end);
        Ok(Some(self.classify(span)))
    }

    fn classify(&mut self, line: Span) -> Frame {
        let text = self.buf.get(line.start..line.end).unwrap_or(&[]);
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

    fn next_passthrough(&mut self) -> Option<Frame> {
        let start = self.pos;
        let avail = self.buf.get(start..).unwrap_or(&[]);
        if !self.exit_pending {
            self.pos = self.buf.len();
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

#[cfg(test)]
#[path = "response_framer_tests.rs"]
mod tests;
