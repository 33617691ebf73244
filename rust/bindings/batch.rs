//! `FrameBatch`: everything one `feed_batch()` framed, as one Python object.
//!
//! `ResponseFramer.feed()` makes a Python `Frame` per frame. A consumer that keeps what
//! it gets and reads each frame's kind and payload pays for an allocation per frame
//! and for the list that holds them. A batch keeps the frames in Rust: `kinds` and
//! `payloads` build one tuple each (interned strings; bytes made once per call, or the
//! caller's own bytes object in passthrough), and `batch[i]` makes a full `Frame` only
//! for the frames a consumer wants more of (a reply's fields, an error's code).

use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::frames::{payload_span, untracked, Arena, Frame, KindNames};
use crate::response_framer::Frame as CoreFrame;

/// The frames of one `ResponseFramer.feed_batch()` call, in order.
#[pyclass(module = "atsock._core", frozen, sequence)]
pub struct FrameBatch {
    frames: Vec<CoreFrame>,
    /// `frames[..split]` index `arenas[0]` (the framer's buffer: frames that began in
    /// an earlier feed), the rest `arenas[1]` (the caller's input, framed in place).
    split: usize,
    /// `None` only for a part without frames.
    arenas: [Option<Arena>; 2],
}

impl FrameBatch {
    pub(crate) fn new(frames: Vec<CoreFrame>, split: usize, arenas: [Option<Arena>; 2]) -> Self {
        FrameBatch {
            frames,
            split,
            arenas,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    fn arena(&self, index: usize) -> Option<&Arena> {
        self.arenas[usize::from(index >= self.split)].as_ref()
    }

    fn frame(&self, py: Python<'_>, index: usize) -> Option<Frame> {
        let frame = *self.frames.get(index)?;
        Some(Frame::new(py, frame, self.arena(index)?.share(py)))
    }

    /// Every frame as a Python `Frame`, in a list.
    pub(crate) fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let frames = (0..self.frames.len())
            .filter_map(|i| self.frame(py, i))
            .map(|frame| untracked(py, frame))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, frames)
    }
}

#[pymethods]
impl FrameBatch {
    fn __len__(&self) -> usize {
        self.frames.len()
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, Frame>> {
        let len = self.frames.len() as isize;
        let at = if index < 0 { index + len } else { index };
        let frame = usize::try_from(at).ok().and_then(|i| self.frame(py, i));
        match frame {
            Some(frame) => untracked(py, frame),
            None => Err(PyIndexError::new_err(format!(
                "frame index {index} out of range for a batch of {len}"
            ))),
        }
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_list(py)?.try_iter().map(Bound::into_any)
    }

    /// Each frame's kind (the strings of `Frame.kind`), built anew on each access.
    #[getter]
    fn kinds<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let names = KindNames::get(py);
        PyTuple::new(py, self.frames.iter().map(|f| names.of(py, f)))
    }

    /// Each frame's `Frame.payload` (bytes or None), built anew on each access.
    #[getter]
    fn payloads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let payloads = self.frames.iter().enumerate().map(|(i, f)| {
            let span = payload_span(f)?;
            Some(self.arena(i)?.bytes(py, span))
        });
        PyTuple::new(py, payloads)
    }

    fn __repr__(&self) -> String {
        format!("<FrameBatch of {} frames>", self.frames.len())
    }
}
