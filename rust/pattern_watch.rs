//! Finds a fixed byte pattern in a stream that arrives in chunks of any size.
//!
//! In transparent mode a module that reboots cannot say so: its banner, ending in a
//! line `ready`, is just more bytes of the stream. The driver watches the stream for
//! that line, which may be split across any number of reads. Only the last
//! `pattern.len() - 1` bytes are kept between chunks, and each chunk is scanned with
//! `memmem` at memory speed: a full-speed stream is scanned in a few per cent of the
//! time a Python `in` takes.

use memchr::memmem;

/// Watches a stream for one fixed pattern. See the module documentation.
#[derive(Debug, Clone)]
pub struct PatternWatch {
    finder: memmem::Finder<'static>,
    /// The last bytes seen, fewer than the pattern's length: a match may start in them.
    tail: Vec<u8>,
    /// The tail followed by the head of a chunk (reused: no allocation per chunk).
    joint: Vec<u8>,
}

impl PatternWatch {
    /// A watch for `pattern` (an empty pattern is found in every chunk).
    pub fn new(pattern: &[u8]) -> Self {
        let keep = pattern.len().saturating_sub(1);
        PatternWatch {
            finder: memmem::Finder::new(pattern).into_owned(),
            tail: Vec::with_capacity(keep),
            joint: Vec::with_capacity(2 * keep),
        }
    }

    /// The pattern watched for.
    pub fn pattern(&self) -> &[u8] {
        self.finder.needle()
    }

    /// Adds the next chunk of the stream: true if a match of the pattern ends in it
    /// (a match may start in earlier chunks).
    pub fn feed(&mut self, data: &[u8]) -> bool {
        let keep = self.finder.needle().len().saturating_sub(1);
        let mut found = false;
        if !self.tail.is_empty() {
            self.joint.clear();
            self.joint.extend_from_slice(&self.tail);
            self.joint.extend_from_slice(&data[..data.len().min(keep)]);
            found = self.finder.find(&self.joint).is_some();
        }
        found = found || self.finder.find(data).is_some();
        if data.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - keep..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const READY: &[u8] = b"\nready\r\n";

    #[test]
    fn finds_the_pattern_inside_one_chunk() {
        let mut w = PatternWatch::new(READY);
        assert!(!w.feed(b"OK\r\n"));
        assert!(w.feed(b"boot...\r\nready\r\nmore"));
        assert!(!w.feed(b"ready\r\n"));
        assert_eq!(w.pattern(), READY);
    }

    #[test]
    fn finds_the_pattern_split_at_every_point() {
        for cut in 0..=READY.len() {
            let mut w = PatternWatch::new(READY);
            let (a, b) = READY.split_at(cut);
            let first = w.feed(&[b"xx", a].concat());
            let second = w.feed(&[b, b"yy"].concat());
            assert_eq!(
                (first, second),
                (cut == READY.len(), cut < READY.len()),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn finds_the_pattern_fed_one_byte_at_a_time() {
        let mut w = PatternWatch::new(READY);
        let stream = [b"noise\r".as_slice(), READY, b"tail"].concat();
        let hits: Vec<usize> = (0..stream.len())
            .filter(|&i| w.feed(&stream[i..=i]))
            .collect();
        assert_eq!(hits, vec![6 + READY.len() - 1]);
    }

    #[test]
    fn an_empty_pattern_is_in_every_chunk() {
        let mut w = PatternWatch::new(b"");
        assert!(w.feed(b""));
        assert!(w.feed(b"abc"));
    }

    fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([data.len()]) {
            chunks.push(data[start..p].to_vec());
            start = p;
        }
        chunks
    }

    proptest! {
        /// However the stream is cut, the watch reports a match exactly when a match
        /// of the whole stream ends within the chunk.
        #[test]
        fn any_chunking_agrees_with_a_whole_stream_search(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'r'), Just(b'e'),
                Just(b'a'), Just(b'd'), Just(b'y'), Just(b'\r'), any::<u8>()], 0..200),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let ends: Vec<usize> = memmem::find_iter(&data, READY).map(|i| i + READY.len()).collect();
            let mut w = PatternWatch::new(READY);
            let mut start = 0;
            for chunk in chunked(&data, &cuts) {
                let end = start + chunk.len();
                let expected = ends.iter().any(|&e| e > start && e <= end);
                prop_assert_eq!(w.feed(&chunk), expected);
                start = end;
            }
        }
    }
}
