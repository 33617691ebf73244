//! The core's one error type.
//!
//! Every state machine in the core reports bad input through [`CoreError`]: a small
//! `Copy` value (httparse style) whose `Display` is a sentence a person can act on.
//! Incomplete input is never an error — it is a status of the machine that saw it.

use std::fmt;

/// Why the core refused a piece of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreError {
    /// A line grew past the framer's line limit before its line end arrived.
    LineTooLong { limit: usize },
    /// A payload header declared more bytes than the framer's payload limit.
    PayloadTooLong { declared: u64, limit: usize },
    /// An AT parameter value holds a CR or LF, which cannot travel in a command line.
    LineBreakInParam,
    /// An AT parameter list opens a double quote and never closes it.
    UnterminatedQuote,
    /// A backslash ends an AT parameter list, with nothing left to escape.
    DanglingEscape,
    /// Something other than a comma follows a closing double quote.
    TextAfterQuote { at: usize },
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CoreError::LineTooLong { limit } => write!(
                f,
                "line longer than {limit} bytes without a line end; \
                 dropped up to the next line end (raise max_line if the module really sends such lines)"
            ),
            CoreError::PayloadTooLong { declared, limit } => write!(
                f,
                "payload header declares {declared} bytes, more than the limit of {limit}; \
                 header dropped and framing resynchronised at the next line end \
                 (raise max_payload if the module really sends such packets)"
            ),
            CoreError::LineBreakInParam => write!(
                f,
                "parameter contains CR or LF, which would end the AT command line; \
                 send such data with AT+SOCKETSEND instead"
            ),
            CoreError::UnterminatedQuote => {
                write!(f, "parameter list opens a double quote and never closes it")
            }
            CoreError::DanglingEscape => write!(
                f,
                "parameter list ends in a backslash with nothing to escape"
            ),
            CoreError::TextAfterQuote { at } => write!(
                f,
                "unexpected character at byte {at}: a closing double quote must be followed by a comma or the end"
            ),
        }
    }
}

impl std::error::Error for CoreError {}
