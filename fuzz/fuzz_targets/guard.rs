//! Guard: for any feeds and polls (time moving forward), what is forwarded, released and
//! still held equals the input minus exactly three '+' per escape; it never panics.
#![no_main]

use atsock::guard::{Guard, GuardPoll};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut guard = Guard::new(20);
    let mut now = 0u64;
    let mut input = Vec::new();
    let mut output = Vec::new();
    let mut escapes = 0usize;
    // each step: [delta, len, bytes…]; len 0 means poll
    let mut rest = data;
    while let [delta, len, tail @ ..] = rest {
        now += u64::from(*delta);
        let n = usize::from(*len % 8).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        if n == 0 {
            match guard.poll(now) {
                GuardPoll::Escape => escapes += 1,
                GuardPoll::Release(k) => output.extend(std::iter::repeat(b'+').take(k)),
                GuardPoll::Idle => {}
            }
            continue;
        }
        // mostly pluses, to reach the interesting states
        let bytes: Vec<u8> = bytes.iter().map(|b| if b % 4 == 0 { *b } else { b'+' }).collect();
        input.extend_from_slice(&bytes);
        let step = guard.feed(&bytes, now);
        if step.escape_before {
            escapes += 1;
        }
        output.extend(std::iter::repeat(b'+').take(step.release));
        if step.forward {
            output.extend_from_slice(&bytes);
        }
    }
    output.extend(std::iter::repeat(b'+').take(guard.held()));
    assert_eq!(output.len() + 3 * escapes, input.len());
    let plus_in = input.iter().filter(|&&b| b == b'+').count();
    let plus_out = output.iter().filter(|&&b| b == b'+').count();
    assert_eq!(plus_out + 3 * escapes, plus_in);
    let others_in: Vec<u8> = input.iter().copied().filter(|&b| b != b'+').collect();
    let others_out: Vec<u8> = output.iter().copied().filter(|&b| b != b'+').collect();
    assert_eq!(others_in, others_out);
});
