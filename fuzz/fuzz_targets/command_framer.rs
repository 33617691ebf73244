//! Command framer: chunking invariance, bounded lines, raw mode, no panics.
#![no_main]

use atsock::command_framer::{CommandEvent, CommandFramer};
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 32;

fn run(input: &[u8], chunk: usize, raw_every: usize) -> Vec<(bool, Vec<u8>)> {
    let mut f = CommandFramer::new(MAX_LINE);
    let mut out: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut lines = 0;
    for piece in input.chunks(chunk) {
        f.push(piece);
        loop {
            match f.next() {
                Ok(Some(CommandEvent::Line(r))) => {
                    let line = f.bytes(r).to_vec();
                    assert!(line.len() <= MAX_LINE);
                    assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
                    out.push((false, line));
                    lines += 1;
                    if raw_every > 0 && lines % raw_every == 0 {
                        f.expect_raw(lines % 7 + 1);
                    }
                }
                Ok(Some(CommandEvent::Raw(r))) => {
                    let bytes = f.bytes(r).to_vec();
                    match out.last_mut() {
                        Some((true, prev)) => prev.extend_from_slice(&bytes),
                        _ => out.push((true, bytes)),
                    }
                }
                Ok(None) => break,
                Err(_) => out.push((false, b"<error>".to_vec())),
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let chunk = usize::from(control & 0x1f) + 1;
    let raw_every = usize::from(control >> 5);
    assert_eq!(run(input, input.len().max(1), raw_every), run(input, chunk, raw_every));
});
