//! PatternWatch: for any pattern and any chunking of any stream, a chunk is reported
//! exactly when a match in the whole stream ends inside it; it never panics.
#![no_main]

use atsock::pattern_watch::PatternWatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // [pattern length, pattern…, (chunk length, chunk…)*]
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (pattern, mut rest) = rest.split_at(usize::from(len % 12).min(rest.len()));
    let mut watch = PatternWatch::new(pattern);
    let mut stream = Vec::new();
    let mut reported = Vec::new();
    while let Some((&n, tail)) = rest.split_first() {
        let (chunk, next) = tail.split_at(usize::from(n % 32).min(tail.len()));
        rest = next;
        let start = stream.len();
        stream.extend_from_slice(chunk);
        if watch.feed(chunk) {
            reported.push((start, stream.len()));
        }
    }
    if pattern.is_empty() {
        return; // found in every chunk
    }
    // the oracle: a naive search of the whole stream
    let ends: Vec<usize> = (pattern.len()..=stream.len())
        .filter(|&end| &stream[end - pattern.len()..end] == pattern)
        .collect();
    for &(start, end) in &reported {
        assert!(
            ends.iter().any(|&e| e > start && e <= end),
            "reported a chunk without a match"
        );
    }
    for e in ends {
        assert!(
            reported.iter().any(|&(s, end)| e > s && e <= end),
            "missed a match"
        );
    }
});
