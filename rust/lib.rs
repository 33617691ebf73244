//! atsock core: sans-I/O protocol machinery for a Wi-Fi module's TCP/IP AT command set.
//!
//! Nothing here reads a port, a socket or a clock: callers push bytes (and, where time
//! matters, a monotonic timestamp in nanoseconds) and get frames, events or packets
//! back. The same core serves the Python driver, the module emulator, the tests and
//! the benchmarks. Python bindings live in `bindings/` alone, behind the `python`
//! feature, so `cargo test` needs no interpreter.

pub mod command_framer;
pub mod error;
pub mod guard;
pub mod packetizer;
pub mod params;
pub mod pattern_watch;
pub mod response_framer;

#[cfg(feature = "python")]
mod bindings;
