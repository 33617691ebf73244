//! The Python face of the core (`atsock._core`): thin wrappers, no protocol logic.
//!
//! Everything protocol-shaped lives in the pure-Rust modules; this file converts
//! arguments, builds Python objects without second copies, and turns [`CoreError`]
//! into `atsock.FramingError` / `ValueError`. Frame reprs never show payload bytes
//! (a payload may be a private key).

mod batch;
mod framer;
mod frames;
mod params;
mod streams;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

use crate::error::CoreError;
use crate::{command_framer, guard, packetizer, response_framer as rf};

create_exception!(
    atsock,
    ATError,
    PyException,
    "Base class of every error atsock raises about the module or its protocol."
);
create_exception!(
    atsock,
    FramingError,
    ATError,
    "The module's output broke the framing rules (over-long line, absurd length). The framer has resynchronised; `frames` holds what was decoded from the same input."
);

pub(crate) fn framing_error(
    py: Python<'_>,
    first: CoreError,
    more: usize,
    frames: Bound<'_, PyList>,
) -> PyErr {
    let msg = if more > 0 {
        format!("{first} (and {more} more framing errors in the same input)")
    } else {
        first.to_string()
    };
    let err = FramingError::new_err(msg);
    // attach what was decoded, so nothing received is lost
    let _ = err.value(py).setattr(intern!(py, "frames"), frames);
    err
}

pub(crate) fn value_error(e: CoreError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs `f` over the bytes of a `bytes`, `bytearray` or buffer-like object.
pub(crate) fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(ba) = data.cast::<PyByteArray>() {
        return Ok(f(&ba.to_vec()));
    }
    // memoryview and other buffer exporters: one copy through bytes()
    let copied = data.py().get_type::<PyBytes>().call1((data,))?;
    let b = copied.cast::<PyBytes>()?;
    Ok(f(b.as_bytes()))
}

/// Frames `data` in `chunk`-byte pieces in Rust alone, as `feed_batch` frames a bytes
/// object, and counts the frames: the core's own speed, for benchmarks to compare with.
#[pyfunction]
fn _frame_count(py: Python<'_>, data: &Bound<'_, PyBytes>, chunk: usize) -> usize {
    let data = data.as_bytes();
    py.detach(|| {
        let mut framer = rf::ResponseFramer::default();
        let mut count = 0;
        for piece in data.chunks(chunk.max(1)) {
            let mut start = 0;
            while framer.pending() > 0 && start < piece.len() {
                start += framer.bridge(piece.get(start..).unwrap_or(&[]));
                while let Some(frame) = framer.next_frame().transpose() {
                    count += usize::from(frame.is_ok());
                }
            }
            framer.take_consumed();
            framer.frame_in_place(piece, start, |frame| count += usize::from(frame.is_ok()));
        }
        count
    })
}

/// "release" or "debug": benchmarks refuse a debug build.
#[pyfunction]
fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ATError", py.get_type::<ATError>())?;
    m.add("FramingError", py.get_type::<FramingError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_MAX_LINE", rf::DEFAULT_MAX_LINE)?;
    m.add("DEFAULT_MAX_PAYLOAD", rf::DEFAULT_MAX_PAYLOAD)?;
    m.add("DEFAULT_GUARD_NS", guard::DEFAULT_GUARD_NS)?;
    m.add("DEFAULT_MAX_PACKET", packetizer::DEFAULT_MAX_PACKET)?;
    m.add("DEFAULT_IDLE_NS", packetizer::DEFAULT_IDLE_NS)?;
    m.add("MAX_COMMAND_LINE", command_framer::MAX_COMMAND_LINE)?;
    m.add_class::<frames::Frame>()?;
    m.add_class::<framer::ResponseFramer>()?;
    m.add_class::<batch::FrameBatch>()?;
    m.add_class::<streams::Guard>()?;
    m.add_class::<streams::Packetizer>()?;
    m.add_class::<streams::CommandFramer>()?;
    m.add_class::<streams::PatternWatch>()?;
    m.add_function(wrap_pyfunction!(params::parse_params, m)?)?;
    m.add_function(wrap_pyfunction!(params::format_params, m)?)?;
    m.add_function(wrap_pyfunction!(params::format_param, m)?)?;
    m.add_function(wrap_pyfunction!(params::needs_quoting, m)?)?;
    m.add_function(wrap_pyfunction!(build_profile, m)?)?;
    m.add_function(wrap_pyfunction!(_frame_count, m)?)?;
    Ok(())
}
