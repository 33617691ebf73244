//! The Python `Frame`: one unit of the module's output, and the bytes it refers to.
//!
//! Frames share the framed bytes (an `Arc` of the framer's consumed buffer, or the
//! caller's own `bytes` in passthrough) and copy a slice out only when asked for it.
//!
//! Every PyO3 class is a garbage-collected type, and a process that keeps the frames it
//! gets (a driver holds a reply until its command returns) would have the collector
//! traverse each of them again and again. A frame holds only bytes and interned strings,
//! so it can never be part of a reference cycle: [`untracked`] takes it off the
//! collector's lists as it is made.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use crate::response_framer::{Frame as CoreFrame, PayloadSource, Span};

/// Where a frame's bytes live: the framer's consumed buffer, or the caller's own bytes.
pub(crate) enum Arena {
    Owned(Arc<Vec<u8>>),
    Input(Py<PyBytes>),
}

impl Arena {
    pub(crate) fn share(&self, py: Python<'_>) -> Arena {
        match self {
            Arena::Owned(v) => Arena::Owned(Arc::clone(v)),
            Arena::Input(b) => Arena::Input(b.clone_ref(py)),
        }
    }

    fn slice<'a>(&'a self, py: Python<'a>, span: Span) -> &'a [u8] {
        let all: &[u8] = match self {
            Arena::Owned(v) => v,
            Arena::Input(b) => b.as_bytes(py),
        };
        all.get(span.start..span.end).unwrap_or(&[])
    }

    pub(crate) fn bytes<'py>(&self, py: Python<'py>, span: Span) -> Bound<'py, PyBytes> {
        if let Arena::Input(b) = self {
            let bound = b.bind(py);
            if span.start == 0 && span.end == bound.as_bytes().len() {
                return bound.clone();
            }
        }
        PyBytes::new(py, self.slice(py, span))
    }
}

/// The `kind` strings, in the order of [`kind_index`].
const KIND_NAMES: [&str; 13] = [
    "ok",
    "error",
    "echo",
    "info",
    "ready",
    "busy",
    "connect",
    "prompt",
    "urc",
    "socketread",
    "sslcret",
    "data",
    "exit",
];

/// Where a frame's `kind` string stands in [`KIND_NAMES`].
fn kind_index(frame: &CoreFrame) -> usize {
    match frame {
        CoreFrame::Ok { .. } => 0,
        CoreFrame::Error { .. } => 1,
        CoreFrame::Echo { .. } => 2,
        CoreFrame::Info { .. } => 3,
        CoreFrame::Ready { .. } => 4,
        CoreFrame::Busy { .. } => 5,
        CoreFrame::Connect { .. } => 6,
        CoreFrame::Prompt => 7,
        CoreFrame::Urc { .. } => 8,
        CoreFrame::Payload { source, .. } => match source {
            PayloadSource::SocketDown => 8,
            PayloadSource::SocketRead => 9,
            PayloadSource::SslCert => 10,
        },
        CoreFrame::Data { .. } => 11,
        CoreFrame::TransparentExit => 12,
    }
}

/// The `kind` strings as interned Python strings, made once per process: every frame
/// of a kind shares one object, and a batch's kinds are a table lookup each.
pub(crate) struct KindNames<'py>(&'py [Py<PyString>; 13]);

static KINDS: PyOnceLock<[Py<PyString>; 13]> = PyOnceLock::new();

impl<'py> KindNames<'py> {
    pub(crate) fn get(py: Python<'py>) -> Self {
        KindNames(KINDS.get_or_init(py, || {
            KIND_NAMES.map(|name| PyString::intern(py, name).unbind())
        }))
    }

    /// The `kind` of a frame.
    pub(crate) fn of(&self, py: Python<'py>, frame: &CoreFrame) -> Bound<'py, PyString> {
        self.0[kind_index(frame)].bind(py).clone()
    }
}

/// One unit of the module's output: a line, a prompt, an event, a payload or data.
#[pyclass(module = "atsock._core", frozen, freelist = 256)]
pub struct Frame {
    frame: CoreFrame,
    arena: Arena,
    // A field, not a computed getter: every consumer reads it for every frame, and
    // Python reads a `Py` field of a frozen class as a plain struct member (11 ns
    // against 54 ns for a getter call; 7 % of framing and reading 64 KiB chunks).
    /// ok, error, echo, info, ready, busy, connect, prompt, urc, socketread, sslcret, data, exit.
    #[pyo3(get)]
    kind: Py<PyString>,
}

/// The raw bytes a payload frame or passthrough data carries.
pub(crate) fn payload_span(frame: &CoreFrame) -> Option<Span> {
    match *frame {
        CoreFrame::Payload { payload, .. } | CoreFrame::Data { payload } => Some(payload),
        _ => None,
    }
}

/// Makes a Python object of `value` and takes it off the garbage collector's lists.
///
/// For classes whose objects hold only bytes, strings, numbers and `Arc`s: nothing they
/// refer to can refer back, so the collector could never find a cycle through them.
pub(crate) fn untracked<T: pyo3::PyClass>(
    py: Python<'_>,
    value: impl Into<PyClassInitializer<T>>,
) -> PyResult<Bound<'_, T>> {
    let obj = Bound::new(py, value)?;
    // SAFETY: `obj` is a live object of a GC type (every PyO3 class is one);
    // untracking an object that is not tracked is allowed, and its tp_dealloc
    // untracks again, which is a no-op.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    Ok(obj)
}

impl Frame {
    pub(crate) fn new(py: Python<'_>, frame: CoreFrame, arena: Arena) -> Frame {
        let kind = KindNames::get(py).of(py, &frame).unbind();
        Frame { frame, arena, kind }
    }

    fn line_span(&self) -> Option<Span> {
        match self.frame {
            CoreFrame::Ok { line }
            | CoreFrame::Error { line, .. }
            | CoreFrame::Echo { line }
            | CoreFrame::Info { line }
            | CoreFrame::Ready { line }
            | CoreFrame::Busy { line }
            | CoreFrame::Connect { line, .. }
            | CoreFrame::Urc { line } => Some(line),
            CoreFrame::Payload { header, .. } => Some(header),
            CoreFrame::Prompt | CoreFrame::Data { .. } | CoreFrame::TransparentExit => None,
        }
    }

    /// `(name, rest)` of a `+NAME:rest` / `+EVENT:NAME,rest` / `+NAME,rest` line.
    fn split_name<'a>(&self, line: &'a [u8]) -> (Option<&'a [u8]>, &'a [u8]) {
        let body = match self.frame {
            CoreFrame::Urc { .. }
            | CoreFrame::Payload {
                source: PayloadSource::SocketDown,
                ..
            } => line.strip_prefix(b"+EVENT:").unwrap_or(line),
            _ => match line.strip_prefix(b"+") {
                Some(body) => body,
                None => return (None, line),
            },
        };
        match body.iter().position(|&b| b == b':' || b == b',') {
            Some(i) => (body.get(..i), body.get(i + 1..).unwrap_or(&[])),
            None => (Some(body), &[]),
        }
    }
}

#[pymethods]
impl Frame {
    /// The line without its line end (for payload frames: the header before the data).
    #[getter]
    fn line<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.line_span().map(|s| self.arena.bytes(py, s))
    }

    /// The line decoded as text (invalid UTF-8 replaced).
    #[getter]
    fn text(&self, py: Python<'_>) -> Option<String> {
        self.line_span()
            .map(|s| String::from_utf8_lossy(self.arena.slice(py, s)).into_owned())
    }

    /// The raw bytes a payload frame, an active-mode SocketDown or passthrough data carried.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        payload_span(&self.frame).map(|span| self.arena.bytes(py, span))
    }

    /// Event name of a URC, command name of an error code or of a `+NAME:` line.
    #[getter]
    fn name(&self, py: Python<'_>) -> Option<String> {
        if let CoreFrame::Error { command, .. } = self.frame {
            return command.map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned());
        }
        let line = self.arena.slice(py, self.line_span()?);
        let (name, _) = self.split_name(line);
        name.map(|n| String::from_utf8_lossy(n).into_owned())
    }

    /// Comma-separated values after the name (whole line for rows without a name).
    #[getter]
    fn fields(&self, py: Python<'_>) -> Vec<String> {
        let Some(span) = self.line_span() else {
            return Vec::new();
        };
        match self.frame {
            CoreFrame::Info { .. } | CoreFrame::Urc { .. } | CoreFrame::Payload { .. } => {}
            _ => return Vec::new(),
        }
        let (_, rest) = self.split_name(self.arena.slice(py, span));
        if rest.is_empty() {
            return Vec::new();
        }
        rest.split(|&b| b == b',')
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    /// ConID of a payload frame or of `connect success`; certificate type for sslcret.
    #[getter]
    fn id(&self) -> Option<u32> {
        match self.frame {
            CoreFrame::Payload { id, .. } => Some(id),
            CoreFrame::Connect { con_id, .. } => Some(con_id),
            _ => None,
        }
    }

    /// The firmware error code of an `ERROR` (from a preceding `+CMD:<code>` line).
    #[getter]
    fn code(&self) -> Option<u32> {
        match self.frame {
            CoreFrame::Error { code, .. } => code,
            _ => None,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let kind = self.kind.bind(py).to_string();
        match self.frame {
            CoreFrame::Payload { payload, .. } | CoreFrame::Data { payload } => {
                format!(
                    "<Frame {kind} id={:?} payload={} bytes>",
                    self.id(),
                    payload.len()
                )
            }
            CoreFrame::Error { code, .. } => format!("<Frame error code={code:?}>"),
            _ => match self.text(py) {
                // echo of AT+SSLCRET / info lines carry no secrets; payloads are above
                Some(t) => format!("<Frame {kind} {t:?}>"),
                None => format!("<Frame {kind}>"),
            },
        }
    }
}
