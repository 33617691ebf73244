//! The Python `ResponseFramer`: pushes the caller's bytes through the core framer and
//! hands the frames back as a list (`feed`) or as one `FrameBatch` (`feed_batch`).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};

use super::batch::FrameBatch;
use super::frames::{untracked, Arena};
use super::{framing_error, with_bytes};
use crate::error::CoreError;
use crate::response_framer::{self as rf, Frame as CoreFrame};

/// The batch of every feed that completes no frame.
static EMPTY: PyOnceLock<Py<FrameBatch>> = PyOnceLock::new();

/// What one call framed, and the first framing error it met (with how many followed).
struct Framed {
    batch: FrameBatch,
    error: Option<(CoreError, usize)>,
}

/// Frames the module's output (see the Rust docs of `response_framer` for the grammar).
#[pyclass(module = "atsock._core")]
pub struct ResponseFramer {
    inner: rf::ResponseFramer,
    /// Frames per byte of the last feed that framed any (as frames, bytes): sizes the
    /// next feed's frame vector so it is not regrown and copied as it fills.
    density: (usize, usize),
}

impl ResponseFramer {
    fn frame(&mut self, data: &Bound<'_, PyAny>) -> PyResult<Framed> {
        let Ok(input) = data.cast::<PyBytes>() else {
            // bytearray, memoryview: framed from a copy in the framer's buffer
            let mut out = Collected::default();
            with_bytes(data, |bytes| self.inner.push(bytes))?;
            out.drain(&mut self.inner);
            let split = out.frames.len();
            let owned = (split > 0).then(|| Arena::Owned(Arc::new(self.inner.take_consumed())));
            return Ok(out.into_framed(split, [owned, None]));
        };
        let bytes = input.as_bytes();
        // first the bytes that complete a frame begun in an earlier feed, copied ...
        let mut out = Collected::sized_for(bytes.len(), self.density);
        let mut start = 0;
        while self.inner.pending() > 0 && start < bytes.len() {
            start += self.inner.bridge(bytes.get(start..).unwrap_or(&[]));
            out.drain(&mut self.inner);
        }
        let split = out.frames.len();
        let carried = (split > 0).then(|| Arena::Owned(Arc::new(self.inner.take_consumed())));
        // ... then the rest framed where it lies, in the caller's bytes object (in
        // transparent streaming: one data frame that is the caller's object itself)
        self.inner
            .frame_in_place(bytes, start, |frame| out.add(frame));
        let in_place = (out.frames.len() > split).then(|| Arena::Input(input.clone().unbind()));
        if !out.frames.is_empty() {
            self.density = (out.frames.len(), bytes.len());
        }
        Ok(out.into_framed(split, [carried, in_place]))
    }
}

/// Frames and the first framing error met (with how many followed it).
#[derive(Default)]
struct Collected {
    frames: Vec<CoreFrame>,
    error: Option<(CoreError, usize)>,
}

impl Collected {
    /// Room for the frames `len` bytes hold at the `(frames, bytes)` density seen last.
    fn sized_for(len: usize, (frames, bytes): (usize, usize)) -> Self {
        let expected = len.saturating_mul(frames) / bytes.max(1);
        let mut collected = Collected::default();
        // a few frames grow the vector as cheaply as a guess, and a feed may frame none
        if expected > 8 {
            collected.frames = Vec::with_capacity(expected.saturating_add(expected / 4).min(len));
        }
        collected
    }

    fn add(&mut self, frame: Result<CoreFrame, CoreError>) {
        match frame {
            Ok(frame) => self.frames.push(frame),
            Err(e) => match &mut self.error {
                None => self.error = Some((e, 0)),
                Some((_, more)) => *more += 1,
            },
        }
    }

    /// Everything the framer can frame from what it holds.
    fn drain(&mut self, framer: &mut rf::ResponseFramer) {
        while let Some(frame) = framer.next_frame().transpose() {
            self.add(frame);
        }
    }

    fn into_framed(mut self, split: usize, arenas: [Option<Arena>; 2]) -> Framed {
        // a kept batch holds no slack beyond what a guess of 25 % too many left
        if self.frames.capacity() > self.frames.len() + self.frames.len() / 4 + 8 {
            self.frames.shrink_to_fit();
        }
        Framed {
            batch: FrameBatch::new(self.frames, split, arenas),
            error: self.error,
        }
    }
}

/// The frames as the caller's result, or `FramingError` carrying them as `.frames`.
fn finish<'py, T>(
    py: Python<'py>,
    framed: Framed,
    ok: impl FnOnce(FrameBatch) -> PyResult<T>,
) -> PyResult<T> {
    match framed.error {
        None => ok(framed.batch),
        Some((first, more)) => Err(framing_error(py, first, more, framed.batch.to_list(py)?)),
    }
}

#[pymethods]
impl ResponseFramer {
    #[new]
    #[pyo3(signature = (max_line = rf::DEFAULT_MAX_LINE, max_payload = rf::DEFAULT_MAX_PAYLOAD))]
    fn new(max_line: usize, max_payload: usize) -> Self {
        ResponseFramer {
            inner: rf::ResponseFramer::new(max_line, max_payload),
            density: (0, 1),
        }
    }

    /// Feeds module output in any chunking; returns the frames it completed.
    /// Raises FramingError (with `.frames`) when a limit was exceeded.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let framed = self.frame(data)?;
        finish(py, framed, |batch| batch.to_list(py))
    }

    /// Like `feed`, but the frames come as one `FrameBatch`: the fast way to keep them.
    fn feed_batch<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, FrameBatch>> {
        let framed = self.frame(data)?;
        finish(py, framed, |batch| {
            if batch.is_empty() {
                // most small reads complete no frame: they share one immutable batch
                return Ok(EMPTY
                    .get_or_try_init(py, || untracked(py, batch).map(Bound::unbind))?
                    .bind(py)
                    .clone());
            }
            untracked(py, batch)
        })
    }

    /// The next `>` prompt starts passthrough (call before sending AT+SOCKETTT).
    fn arm_transparent(&mut self) {
        self.inner.arm_transparent();
    }

    /// Every following byte is passthrough data.
    fn enter_passthrough(&mut self) {
        self.inner.enter_passthrough();
    }

    /// A `+++` went out: the module's `\r\nOK\r\n` now ends passthrough.
    fn begin_exit(&mut self) {
        self.inner.begin_exit();
    }

    /// Back to line framing without waiting for the exit reply.
    fn leave_passthrough(&mut self) {
        self.inner.leave_passthrough();
    }

    /// Forgets all buffered bytes and modes (the module reset).
    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn passthrough(&self) -> bool {
        self.inner.in_passthrough()
    }

    #[getter]
    fn exit_pending(&self) -> bool {
        self.inner.exit_pending()
    }

    #[getter]
    fn armed(&self) -> bool {
        self.inner.armed()
    }

    /// Whether the next feed is one data frame of exactly its bytes (see the .pyi).
    #[getter]
    fn streaming(&self) -> bool {
        self.inner.streaming()
    }

    /// Bytes buffered as a partial frame.
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    #[getter]
    fn max_line(&self) -> usize {
        self.inner.max_line()
    }

    #[getter]
    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }
}
