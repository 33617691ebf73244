//! Response framer: whole-input and chunked feeding give the same frames; memory stays
//! bounded; errors are the core's own; passthrough and exit detection included.
#![no_main]

use atsock::error::CoreError;
use atsock::response_framer::{Frame, ResponseFramer};
use libfuzzer_sys::fuzz_target;

const MAX_LINE: usize = 64;
const MAX_PAYLOAD: usize = 256;

#[derive(Debug, PartialEq)]
enum Out {
    Frame(String, Vec<u8>),
    Err(CoreError),
}

fn drain(f: &mut ResponseFramer, out: &mut Vec<Out>) {
    loop {
        match f.next_frame() {
            Ok(Some(frame)) => {
                let bytes = match frame {
                    Frame::Ok { line }
                    | Frame::Error { line, .. }
                    | Frame::Echo { line }
                    | Frame::Info { line }
                    | Frame::Ready { line }
                    | Frame::Busy { line }
                    | Frame::Connect { line, .. }
                    | Frame::Urc { line } => f.bytes(line).to_vec(),
                    Frame::Payload { payload, .. } | Frame::Data { payload } => {
                        f.bytes(payload).to_vec()
                    }
                    Frame::Prompt | Frame::TransparentExit => Vec::new(),
                };
                let kind = format!("{:?}", std::mem::discriminant(&frame));
                // passthrough data may be cut anywhere: merge consecutive pieces
                if let (true, Some(Out::Frame(prev_kind, prev))) =
                    (matches!(frame, Frame::Data { .. }), out.last_mut())
                {
                    if *prev_kind == kind {
                        prev.extend_from_slice(&bytes);
                        continue;
                    }
                }
                out.push(Out::Frame(kind, bytes));
            }
            Ok(None) => return,
            Err(e) => out.push(Out::Err(e)),
        }
    }
}

fn run(input: &[u8], chunk: usize, mode: u8) -> Vec<Out> {
    let mut f = ResponseFramer::new(MAX_LINE, MAX_PAYLOAD);
    match mode % 4 {
        1 => f.arm_transparent(),
        2 => f.enter_passthrough(),
        3 => {
            f.enter_passthrough();
            f.begin_exit();
        }
        _ => {}
    }
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        f.push(piece);
        drain(&mut f, &mut out);
        // at most one partial frame stays buffered
        assert!(f.pending() <= MAX_LINE + MAX_PAYLOAD + 64);
        if chunk % 2 == 0 {
            let _ = f.take_consumed();
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let chunk = usize::from(control & 0x3f) + 1;
    let mode = control >> 6;
    assert_eq!(run(input, input.len().max(1), mode), run(input, chunk, mode));
});
