//! Python functions for AT parameter lists: `str` in gives `str` out, `bytes` gives `bytes`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::{value_error, with_bytes};
use crate::params;

/// Splits an AT parameter list on commas, honouring double quotes and backslash escapes.
#[pyfunction]
pub fn parse_params<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    if let Ok(text) = data.cast::<PyString>() {
        let values = params::parse_params(text.to_cow()?.as_bytes()).map_err(value_error)?;
        // only ASCII quotes and backslashes were removed, so each value is still UTF-8
        let strings = values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        return PyList::new(py, strings);
    }
    let values = with_bytes(data, params::parse_params)?.map_err(value_error)?;
    PyList::new(py, values.iter().map(|v| PyBytes::new(py, v)))
}

fn value_bytes(value: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<()>) -> PyResult<()> {
    if let Ok(text) = value.cast::<PyString>() {
        return f(text.to_cow()?.as_bytes());
    }
    with_bytes(value, f)?
}

/// One parameter, quoted and escaped only when needed; ValueError on CR or LF.
#[pyfunction]
pub fn format_param<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    value_bytes(value, |v| {
        params::format_param(v, &mut out).map_err(value_error)
    })?;
    Ok(PyBytes::new(py, &out))
}

/// Comma-joined parameters, each quoted and escaped only when needed.
#[pyfunction]
pub fn format_params<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    for (i, value) in values.try_iter()?.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        value_bytes(&value?, |v| {
            params::format_param(v, &mut out).map_err(value_error)
        })?;
    }
    Ok(PyBytes::new(py, &out))
}

/// Whether a value must be quoted to travel as one AT parameter.
#[pyfunction]
pub fn needs_quoting(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let mut needs = false;
    value_bytes(value, |v| {
        needs = params::needs_quoting(v);
        Ok(())
    })?;
    Ok(needs)
}
