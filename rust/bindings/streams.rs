//! Python classes of the byte-stream machines: `Guard`, `Packetizer`, `CommandFramer`,
//! `PatternWatch`.
//!
//! Time is always an argument (`now_ns`, e.g. `time.monotonic_ns()`); nothing here reads
//! a clock. Where the input passes through untouched, the caller's own `bytes` object
//! comes back, uncopied.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::{framing_error, with_bytes};
use crate::command_framer::{self as cf, CommandEvent};
use crate::guard::{self as g, GuardPoll};
use crate::packetizer as pk;
use crate::pattern_watch as pw;

/// `release` held `+` bytes, then the input when `forward`: the bytes to pass on now.
fn guard_output<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    release: usize,
    forward: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if release == 0 {
        if !forward {
            return Ok(PyBytes::new(py, b"").into_any());
        }
        if let Ok(b) = data.cast::<PyBytes>() {
            return Ok(b.clone().into_any());
        }
    }
    let mut out = vec![b'+'; release];
    if forward {
        with_bytes(data, |d| out.extend_from_slice(d))?;
    }
    Ok(PyBytes::new(py, &out).into_any())
}

/// `+++` escape detector with guard time (host → module stream in transparent mode).
#[pyclass(module = "atsock._core")]
pub struct Guard {
    inner: g::Guard,
}

#[pymethods]
impl Guard {
    #[new]
    #[pyo3(signature = (guard_ns = g::DEFAULT_GUARD_NS))]
    fn new(guard_ns: u64) -> Self {
        Guard {
            inner: g::Guard::new(guard_ns),
        }
    }

    /// Returns `(escaped_before, data)`: whether an escape completed before this input,
    /// and the bytes to pass on now (held `+` may be released first; the input may be held).
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        now_ns: u64,
    ) -> PyResult<(bool, Bound<'py, PyAny>)> {
        let step = with_bytes(data, |d| self.inner.feed(d, now_ns))?;
        Ok((
            step.escape_before,
            guard_output(py, data, step.release, step.forward)?,
        ))
    }

    /// Returns `(escaped, data)`: whether the held `+++` became an escape, and held
    /// bytes that time turned back into data.
    fn poll<'py>(&mut self, py: Python<'py>, now_ns: u64) -> (bool, Bound<'py, PyBytes>) {
        match self.inner.poll(now_ns) {
            GuardPoll::Idle => (false, PyBytes::new(py, b"")),
            GuardPoll::Escape => (true, PyBytes::new(py, b"")),
            GuardPoll::Release(n) => (false, PyBytes::new(py, &vec![b'+'; n])),
        }
    }

    /// Forget held bytes; silence counts from `now_ns` (transparent mode entered).
    fn reset(&mut self, now_ns: u64) {
        self.inner.reset(now_ns);
    }

    /// When `poll` should next be called (ns), or None.
    #[getter]
    fn deadline(&self) -> Option<u64> {
        self.inner.deadline()
    }

    #[getter]
    fn held(&self) -> usize {
        self.inner.held()
    }

    #[getter]
    fn guard_ns(&self) -> u64 {
        self.inner.guard_ns()
    }
}

/// Splits a stream into packets of at most `max_packet` bytes, flushing after `idle_ns`.
#[pyclass(module = "atsock._core")]
pub struct Packetizer {
    inner: pk::Packetizer,
    idle_ns: u64,
}

#[pymethods]
impl Packetizer {
    #[new]
    #[pyo3(signature = (max_packet = pk::DEFAULT_MAX_PACKET, idle_ns = pk::DEFAULT_IDLE_NS))]
    fn new(max_packet: usize, idle_ns: u64) -> Self {
        Packetizer {
            inner: pk::Packetizer::new(max_packet, idle_ns),
            idle_ns,
        }
    }

    /// Adds bytes received at `now_ns`; returns the full packets they completed.
    fn push<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        now_ns: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let mut result = Ok(());
        with_bytes(data, |d| {
            self.inner.push(d, now_ns, |packet| {
                if result.is_ok() {
                    result = list.append(PyBytes::new(py, packet));
                }
            });
        })?;
        result.map(|()| list)
    }

    /// The partial packet, once `idle_ns` passed since its last byte; else None.
    fn poll<'py>(&mut self, py: Python<'py>, now_ns: u64) -> Option<Bound<'py, PyBytes>> {
        let mut out = None;
        self.inner.poll(now_ns, |p| out = Some(PyBytes::new(py, p)));
        out
    }

    /// The partial packet now, whatever the time; None when nothing is pending.
    fn flush<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let mut out = None;
        self.inner.flush(|p| out = Some(PyBytes::new(py, p)));
        out
    }

    /// When `poll` will flush (ns), or None when nothing is pending.
    #[getter]
    fn deadline(&self) -> Option<u64> {
        self.inner.deadline()
    }

    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    #[getter]
    fn max_packet(&self) -> usize {
        self.inner.max_packet()
    }

    #[getter]
    fn idle_ns(&self) -> u64 {
        self.idle_ns
    }
}

/// The module side of the UART: command lines, and raw bytes after a `>` prompt.
#[pyclass(module = "atsock._core")]
pub struct CommandFramer {
    inner: cf::CommandFramer,
}

#[pymethods]
impl CommandFramer {
    #[new]
    #[pyo3(signature = (max_line = cf::MAX_COMMAND_LINE))]
    fn new(max_line: usize) -> Self {
        CommandFramer {
            inner: cf::CommandFramer::new(max_line),
        }
    }

    /// Adds host bytes; take events with `next_event`.
    fn push(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        with_bytes(data, |d| self.inner.push(d))
    }

    /// `("line", text)` or `("raw", bytes)`, or None when more input is needed.
    /// An over-long line raises FramingError once; the framer carries on after it.
    fn next_event<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Option<(&'static str, Bound<'py, PyBytes>)>> {
        match self.inner.next() {
            Ok(Some(CommandEvent::Line(r))) => {
                Ok(Some(("line", PyBytes::new(py, self.inner.bytes(r)))))
            }
            Ok(Some(CommandEvent::Raw(r))) => {
                Ok(Some(("raw", PyBytes::new(py, self.inner.bytes(r)))))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(framing_error(py, e, 0, PyList::empty(py))),
        }
    }

    /// The next `n` bytes are raw data (after the module printed `>`).
    fn expect_raw(&mut self, n: usize) {
        self.inner.expect_raw(n);
    }

    #[getter]
    fn raw_remaining(&self) -> usize {
        self.inner.raw_remaining()
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
}

/// Watches a stream for a fixed byte pattern, which may be split across chunks.
#[pyclass(module = "atsock._core")]
pub struct PatternWatch {
    // Boxed: memchr's AVX2 searcher wants 32-byte alignment, and a Python object's
    // memory is only 16-byte aligned.
    inner: Box<pw::PatternWatch>,
}

#[pymethods]
impl PatternWatch {
    #[new]
    fn new(pattern: &Bound<'_, PyAny>) -> PyResult<Self> {
        with_bytes(pattern, |p| PatternWatch {
            inner: Box::new(pw::PatternWatch::new(p)),
        })
    }

    /// Adds the next chunk: True if a match of the pattern ends in it.
    fn feed(&mut self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        with_bytes(data, |d| self.inner.feed(d))
    }

    #[getter]
    fn pattern<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.pattern())
    }
}
