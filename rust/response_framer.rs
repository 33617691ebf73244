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
use grammar::{Mode, Scanner};

#[path = "response_grammar.rs"]
mod grammar;

/// The most room the buffer keeps once a frame larger than this has gone through.
const KEEP_ROOM: usize = 64 * 1024;

/// Default longest line accepted from the module (query rows, info lines, echo).
pub const DEFAULT_MAX_LINE: usize = 4096;
/// Default largest length-prefixed payload (one UDP datagram fits).
pub const DEFAULT_MAX_PAYLOAD: usize = 65536;
/// The module's reply that ends transparent mode after a `+++`.
pub const TRANSPARENT_EXIT: &[u8] = b"\r\nOK\r\n";

/// A byte range of the framer's buffer (or of [`ResponseFramer::take_consumed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
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
    pub(crate) fn from_bytes(name: &[u8]) -> Option<Self> {
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

/// Incremental framer of the module's output; see the module docs for the grammar.
#[derive(Debug, Clone)]
pub struct ResponseFramer {
    buf: Vec<u8>,
    scan: Scanner,
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
            scan: Scanner::new(max_line, max_payload),
        }
    }

    pub fn max_line(&self) -> usize {
        self.scan.max_line
    }

    pub fn max_payload(&self) -> usize {
        self.scan.max_payload
    }

    /// Appends module output. Spans of earlier frames are invalid afterwards.
    pub fn push(&mut self, data: &[u8]) {
        if self.scan.pos > 0 {
            self.buf.drain(..self.scan.pos);
            self.scan.rebase(self.scan.pos);
        }
        self.buf.extend_from_slice(data);
    }

    /// Appends the leading bytes of `input` that complete the partial frame buffered
    /// (see [`pending`](Self::pending)), as far as they can be told, and returns how
    /// many it took: at least one while a partial frame is buffered and `input` is not
    /// empty, none otherwise. Unlike [`push`](Self::push), the spans of frames already
    /// returned stay valid. Call [`next_frame`](Self::next_frame) after each call and
    /// repeat while a partial frame is left; then what follows in `input` can be framed
    /// in place with [`frame_in_place`](Self::frame_in_place).
    pub fn bridge(&mut self, input: &[u8]) -> usize {
        if self.pending() == 0 {
            return 0;
        }
        let take = self
            .scan
            .complete_len(&self.buf, input)
            .clamp(1, input.len().max(1));
        let Some(bytes) = input.get(..take) else {
            return 0;
        };
        self.buf.extend_from_slice(bytes);
        bytes.len()
    }

    /// Frames `input[start..]` where it lies, without copying it: `on_frame` gets each
    /// frame, whose spans index `input`, or error; only the partial frame at the end,
    /// if any, is copied into the buffer. Spans of frames returned before stay valid.
    /// Needs an empty buffer: with a partial frame pending (see [`bridge`](Self::bridge))
    /// it does nothing and returns `false`.
    pub fn frame_in_place(
        &mut self,
        input: &[u8],
        start: usize,
        mut on_frame: impl FnMut(Result<Frame, CoreError>),
    ) -> bool {
        if self.pending() > 0 {
            return false;
        }
        let base = self.buf.len();
        self.scan.pos = start.min(input.len());
        self.scan.scanned = self.scan.pos;
        self.scan.prefetched = self.scan.pos;
        loop {
            if self.scan.mode == Mode::Lines {
                self.scan.prefetch_ahead(input);
            }
            let Some(frame) = self.scan.next_frame(input).transpose() else {
                break;
            };
            on_frame(frame);
        }
        let framed = self.scan.pos;
        self.buf
            .extend_from_slice(input.get(framed..).unwrap_or(&[]));
        // the positions index the buffer again, whose first `base` bytes are framed
        self.scan.rebase(framed);
        self.scan.pos += base;
        self.scan.scanned += base;
        self.scan.prefetched = self.scan.pos;
        true
    }

    /// Bytes received but not yet framed (a partial frame).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.scan.pos
    }

    /// The bytes a span refers to.
    pub fn bytes(&self, span: Span) -> &[u8] {
        self.buf.get(span.start..span.end).unwrap_or(&[])
    }

    /// Hands over the framed bytes; the spans returned so far index the returned vector.
    /// The framer keeps only the unframed tail. Lets bindings share the bytes.
    ///
    /// The framed bytes go out as an exact-size copy and the buffer stays, with its
    /// room: handing the buffer itself over made whoever kept those frames keep its
    /// slack too, and the next partial frame regrow a new buffer from nothing (at
    /// 64-byte feeds, several reallocations per frame).
    pub fn take_consumed(&mut self) -> Vec<u8> {
        let pos = self.scan.pos;
        let head = self.buf.get(..pos).unwrap_or(&[]).to_vec();
        self.buf.drain(..pos);
        if self.buf.capacity() > KEEP_ROOM && self.buf.len() <= KEEP_ROOM / 2 {
            self.buf.shrink_to(KEEP_ROOM / 2); // (after a frame far larger than most)
        }
        self.scan.rebase(pos);
        head
    }

    /// Forgets everything buffered and every mode (the module was reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.scan.max_line, self.scan.max_payload);
    }

    /// The next `>` prompt starts passthrough (sent AT+SOCKETTT, or auto-transparent boot).
    pub fn arm_transparent(&mut self) {
        self.scan.armed = true;
    }

    /// Starts passthrough now: every following byte is data.
    pub fn enter_passthrough(&mut self) {
        self.scan.enter_passthrough();
    }

    /// A `+++` went out: from now on the module's `\r\nOK\r\n` ends passthrough.
    pub fn begin_exit(&mut self) {
        if self.scan.mode == Mode::Passthrough {
            self.scan.exit_pending = true;
        }
    }

    /// Back to lines without waiting for the exit reply (e.g. after it timed out).
    pub fn leave_passthrough(&mut self) {
        self.scan.leave_passthrough();
    }

    pub fn in_passthrough(&self) -> bool {
        self.scan.mode == Mode::Passthrough
    }

    pub fn exit_pending(&self) -> bool {
        self.scan.exit_pending
    }

    pub fn armed(&self) -> bool {
        self.scan.armed
    }

    /// Whether the next input, whatever it holds, is one data frame of exactly those
    /// bytes: in passthrough, no exit pending, nothing buffered.
    pub fn streaming(&self) -> bool {
        self.in_passthrough() && !self.exit_pending() && self.pending() == 0
    }

    /// The next frame, `Ok(None)` when more input is needed. After an `Err` the framer
    /// has already resynchronised: keep calling.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CoreError> {
        self.scan.next_frame(&self.buf)
    }
}

#[cfg(test)]
#[path = "response_framer_tests.rs"]
mod tests;
