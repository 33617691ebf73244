//! Splits a byte stream into packets, as the module does for SOCKETSEND and
//! transparent mode.
//!
//! The module forwards UART input to the network in packets of at most 1024 bytes;
//! a partial packet goes out early once the input has been idle for 20 ms. The
//! emulator reproduces this, and the host uses the same rule to predict packet
//! boundaries. Time is an argument (a monotonic timestamp in ns), never read here.
//!
//! Full packets are handed out without copying when nothing is pending: they are
//! slices of the caller's input. Only the remainder shorter than a packet is kept,
//! so the pending buffer never holds more than `max_packet` bytes.

/// The default largest packet: 1024 bytes.
pub const DEFAULT_MAX_PACKET: usize = 1024;
/// The default idle time after which a partial packet is flushed: 20 ms.
pub const DEFAULT_IDLE_NS: u64 = 20_000_000;

/// Cuts a stream into packets of at most `max_packet` bytes. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct Packetizer {
    max_packet: usize,
    idle_ns: u64,
    /// The partial packet. Its capacity never exceeds `max_packet`; its length
    /// reaches `max_packet` only for the moment it is emitted.
    pending: Vec<u8>,
    /// When the last byte arrived.
    last_byte: u64,
}

impl Default for Packetizer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PACKET, DEFAULT_IDLE_NS)
    }
}

impl Packetizer {
    /// A packetizer for packets of at most `max_packet` bytes, flushing a partial
    /// packet after `idle_ns` without input. A `max_packet` of 0 is taken as 1 (a
    /// packet cannot be empty), so construction cannot fail.
    pub fn new(max_packet: usize, idle_ns: u64) -> Self {
        Packetizer {
            max_packet: max_packet.max(1),
            idle_ns,
            pending: Vec::new(),
            last_byte: 0,
        }
    }

    /// The largest packet this packetizer emits.
    pub fn max_packet(&self) -> usize {
        self.max_packet
    }

    /// How many bytes wait for the packet to fill or the input to go idle.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// When [`Packetizer::poll`] should next be called, if anything is pending.
    pub fn deadline(&self) -> Option<u64> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.last_byte.saturating_add(self.idle_ns))
        }
    }

    /// Takes `data`, arrived at `now_ns`, and emits every packet it completes; each
    /// is exactly `max_packet` bytes. The remainder is kept pending. Empty `data` is
    /// no input: it does not restart the idle timer.
    pub fn push(&mut self, data: &[u8], now_ns: u64, mut emit: impl FnMut(&[u8])) {
        if data.is_empty() {
            return;
        }
        self.last_byte = now_ns;
        let mut rest = data;
        if !self.pending.is_empty() {
            let room = self.max_packet.saturating_sub(self.pending.len());
            let (top_up, tail) = rest.split_at(room.min(rest.len()));
            self.store(top_up);
            rest = tail;
            if self.pending.len() < self.max_packet {
                return;
            }
            emit(&self.pending);
            self.pending.clear();
        }
        let mut packets = rest.chunks_exact(self.max_packet);
        for packet in &mut packets {
            emit(packet);
        }
        self.store(packets.remainder());
    }

    /// Emits the pending partial packet if the input has been idle for the idle
    /// time; returns whether it did.
    pub fn poll(&mut self, now_ns: u64, emit: impl FnMut(&[u8])) -> bool {
        if !self.pending.is_empty() && now_ns.saturating_sub(self.last_byte) >= self.idle_ns {
            self.flush(emit)
        } else {
            false
        }
    }

    /// Emits the pending partial packet now, if any; returns whether it did.
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        emit(&self.pending);
        self.pending.clear();
        true
    }

    /// Appends to the pending packet, growing its buffer geometrically but never
    /// past `max_packet` (callers never store more than fits).
    fn store(&mut self, bytes: &[u8]) {
        let needed = self.pending.len().saturating_add(bytes.len());
        if needed > self.pending.capacity() {
            let target = needed.max(
                self.pending
                    .capacity()
                    .saturating_mul(2)
                    .max(64)
                    .min(self.max_packet),
            );
            self.pending
                .reserve_exact(target.saturating_sub(self.pending.len()));
        }
        self.pending.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IDLE: u64 = 1_000;

    fn push(p: &mut Packetizer, data: &[u8], now: u64) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        p.push(data, now, |pkt| packets.push(pkt.to_vec()));
        packets
    }

    #[test]
    fn defaults_are_1024_bytes_and_20_ms() {
        let p = Packetizer::default();
        assert_eq!(p.max_packet(), 1024);
        assert_eq!(p.deadline(), None);
        assert_eq!(DEFAULT_IDLE_NS, 20_000_000);
    }

    #[test]
    fn zero_max_packet_is_clamped_to_one() {
        let mut p = Packetizer::new(0, IDLE);
        assert_eq!(p.max_packet(), 1);
        assert_eq!(
            push(&mut p, b"abc", 0),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn full_packets_are_emitted_and_the_rest_is_pending() {
        let mut p = Packetizer::new(4, IDLE);
        assert_eq!(
            push(&mut p, b"abcdefghij", 0),
            vec![b"abcd".to_vec(), b"efgh".to_vec()]
        );
        assert_eq!(p.pending(), 2);
    }

    #[test]
    fn full_packets_are_slices_of_the_input_when_nothing_is_pending() {
        let mut p = Packetizer::new(4, IDLE);
        let data = *b"abcdefgh";
        let range = data.as_ptr_range();
        p.push(&data, 0, |pkt| assert!(range.contains(&pkt.as_ptr())));
    }

    #[test]
    fn pending_partial_packet_is_topped_up_first() {
        let mut p = Packetizer::new(4, IDLE);
        assert!(push(&mut p, b"ab", 0).is_empty());
        assert_eq!(
            push(&mut p, b"cdefghi", 1),
            vec![b"abcd".to_vec(), b"efgh".to_vec()]
        );
        assert_eq!(p.pending(), 1);
    }

    #[test]
    fn idle_flush_emits_the_partial_packet_after_idle_time() {
        let mut p = Packetizer::new(4, IDLE);
        push(&mut p, b"ab", 10);
        assert_eq!(p.deadline(), Some(10 + IDLE));
        let mut packets = Vec::new();
        assert!(!p.poll(10 + IDLE - 1, |pkt| packets.push(pkt.to_vec())));
        assert!(p.poll(10 + IDLE, |pkt| packets.push(pkt.to_vec())));
        assert_eq!(packets, vec![b"ab".to_vec()]);
        assert_eq!(p.pending(), 0);
        assert_eq!(p.deadline(), None);
        assert!(!p.poll(u64::MAX, |_| panic!("nothing pending")));
    }

    #[test]
    fn new_input_restarts_the_idle_timer() {
        let mut p = Packetizer::new(4, IDLE);
        push(&mut p, b"a", 0);
        push(&mut p, b"b", IDLE - 1);
        assert!(!p.poll(IDLE, |_| panic!("not idle yet")));
        assert_eq!(p.deadline(), Some(2 * IDLE - 1));
    }

    #[test]
    fn flush_emits_pending_regardless_of_time() {
        let mut p = Packetizer::new(4, IDLE);
        assert!(!p.flush(|_| panic!("nothing pending")));
        push(&mut p, b"xyz", 0);
        let mut packets = Vec::new();
        assert!(p.flush(|pkt| packets.push(pkt.to_vec())));
        assert_eq!(packets, vec![b"xyz".to_vec()]);
    }

    #[test]
    fn pending_buffer_never_outgrows_a_packet() {
        let mut p = Packetizer::new(100, IDLE);
        for _ in 0..250 {
            push(&mut p, b"z", 0);
            assert!(p.pending.capacity() <= 100);
        }
    }

    #[test]
    fn time_going_backwards_never_panics() {
        let mut p = Packetizer::new(4, u64::MAX);
        push(&mut p, b"a", u64::MAX);
        assert_eq!(p.deadline(), Some(u64::MAX));
        assert!(!p.poll(0, |_| panic!("time went backwards")));
    }

    proptest! {
        #[test]
        fn packets_plus_pending_are_the_input_in_any_chunking(
            max in 0usize..9,
            chunks in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..20), 0u64..3 * IDLE, any::<bool>()),
                0..20,
            ),
        ) {
            let mut p = Packetizer::new(max, IDLE);
            let max = p.max_packet();
            let mut now = 0;
            let mut input = Vec::new();
            let mut output = Vec::new();
            for (data, dt, poll) in chunks {
                now += dt;
                input.extend_from_slice(&data);
                p.push(&data, now, |pkt| {
                    assert_eq!(pkt.len(), max, "push emits only full packets");
                    output.extend_from_slice(pkt);
                });
                if poll {
                    now += dt;
                    p.poll(now, |pkt| {
                        assert!(!pkt.is_empty() && pkt.len() < max);
                        output.extend_from_slice(pkt);
                    });
                }
                prop_assert!(p.pending() < max);
                prop_assert!(p.pending.capacity() <= max);
            }
            output.extend_from_slice(&p.pending);
            prop_assert_eq!(output, input);
        }
    }
}
