//! Spec of the response framer, one behaviour per test.

use super::*;
use memchr::memmem;
use proptest::prelude::*;

/// A frame with its bytes copied out, comparable across chunkings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Ok,
    Error(Option<Vec<u8>>, Option<u32>),
    Echo(Vec<u8>),
    Info(Vec<u8>),
    Ready,
    Busy(Vec<u8>),
    Connect(u32),
    Prompt,
    Urc(Vec<u8>),
    Payload(PayloadSource, u32, Vec<u8>),
    Data(Vec<u8>),
    Exit,
    Err(CoreError),
}

fn own(f: &ResponseFramer, frame: Frame) -> Owned {
    own_with(|span| f.bytes(span), frame)
}

/// `frame` with its bytes copied out of whatever its spans index.
fn own_with<'a>(bytes: impl Fn(Span) -> &'a [u8], frame: Frame) -> Owned {
    let f = |span| bytes(span);
    match frame {
        Frame::Ok { .. } => Owned::Ok,
        Frame::Error { command, code, .. } => {
            Owned::Error(command.map(|c| c.as_bytes().to_vec()), code)
        }
        Frame::Echo { line } => Owned::Echo(f(line).to_vec()),
        Frame::Info { line } => Owned::Info(f(line).to_vec()),
        Frame::Ready { .. } => Owned::Ready,
        Frame::Busy { line } => Owned::Busy(f(line).to_vec()),
        Frame::Connect { con_id, .. } => Owned::Connect(con_id),
        Frame::Prompt => Owned::Prompt,
        Frame::Urc { line } => Owned::Urc(f(line).to_vec()),
        Frame::Payload {
            source,
            id,
            payload,
            ..
        } => Owned::Payload(source, id, f(payload).to_vec()),
        Frame::Data { payload } => Owned::Data(f(payload).to_vec()),
        Frame::TransparentExit => Owned::Exit,
    }
}

/// Feeds `input` cut at `cuts` and collects every frame and error.
fn frames_chunked(framer: &mut ResponseFramer, input: &[u8], chunk: usize) -> Vec<Owned> {
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => out.push(own(framer, frame)),
                Ok(None) => break,
                Err(e) => out.push(Owned::Err(e)),
            }
        }
    }
    merge_data(out)
}

/// As the bindings feed a `bytes` object: first the bytes that complete a buffered
/// partial frame, then the rest of each piece framed where it lies.
fn frames_in_place(framer: &mut ResponseFramer, input: &[u8], chunk: usize) -> Vec<Owned> {
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        let mut off = 0;
        while framer.pending() > 0 && off < piece.len() {
            let took = framer.bridge(&piece[off..]);
            assert!(
                took > 0,
                "a bridge with a partial frame and input took nothing"
            );
            off += took;
            while let Some(frame) = framer.next_frame().transpose() {
                out.push(frame.map_or_else(Owned::Err, |frame| own(framer, frame)));
            }
        }
        let mut got = Vec::new();
        let in_place = framer.frame_in_place(piece, off, |frame| got.push(frame));
        assert!(
            in_place || off == piece.len(),
            "input left but not framed in place"
        );
        for frame in got {
            out.push(frame.map_or_else(Owned::Err, |frame| {
                own_with(|s| &piece[s.start..s.end], frame)
            }));
        }
    }
    merge_data(out)
}

/// Passthrough data may come in any number of pieces; only the bytes count.
fn merge_data(frames: Vec<Owned>) -> Vec<Owned> {
    let mut out: Vec<Owned> = Vec::new();
    for f in frames {
        if let (Owned::Data(new), Some(Owned::Data(prev))) = (&f, out.last_mut()) {
            prev.extend_from_slice(new);
            continue;
        }
        out.push(f);
    }
    out
}

fn frames(input: &[u8]) -> Vec<Owned> {
    frames_chunked(&mut ResponseFramer::default(), input, usize::MAX)
}

fn info(s: &str) -> Owned {
    Owned::Info(s.as_bytes().to_vec())
}

const SESSION: &[u8] = b"AT+SOCKET=4,127.0.0.1,6000\r\nconnect success ConID=1\r\nOK\r\n\
+EVENT:SocketDown,1,21\r\nAT+SOCKETREAD=1\r\n+SOCKETREAD,1,21,Hello\r\nOK\r\n+EVENT:x\r\nOK\r\n\
AT+SOCKETSEND=1,3\r\n>\r\nOK\r\n+EVENT:SocketDown,1,5,ab\r\nc\r\n+SSLCRET:1,10,1234567890\r\n\
OK\r\n+SOCKET:97\r\nERROR\r\nready\r\n[Busy]Cmd running\r\n+WDNS:1.1.1.1,8.8.8.8\r\nOK\r\n";

fn session_frames() -> Vec<Owned> {
    vec![
        Owned::Echo(b"AT+SOCKET=4,127.0.0.1,6000".to_vec()),
        Owned::Connect(1),
        Owned::Ok,
        Owned::Urc(b"+EVENT:SocketDown,1,21".to_vec()),
        Owned::Echo(b"AT+SOCKETREAD=1".to_vec()),
        Owned::Payload(
            PayloadSource::SocketRead,
            1,
            b"Hello\r\nOK\r\n+EVENT:x\r\n".to_vec(),
        ),
        Owned::Ok,
        Owned::Echo(b"AT+SOCKETSEND=1,3".to_vec()),
        Owned::Prompt,
        Owned::Ok,
        Owned::Payload(PayloadSource::SocketDown, 1, b"ab\r\nc".to_vec()),
        Owned::Payload(PayloadSource::SslCert, 1, b"1234567890".to_vec()),
        Owned::Ok,
        info("+SOCKET:97"),
        Owned::Error(Some(b"SOCKET".to_vec()), Some(97)),
        Owned::Ready,
        Owned::Busy(b"[Busy]Cmd running".to_vec()),
        info("+WDNS:1.1.1.1,8.8.8.8"),
        Owned::Ok,
    ]
}

#[test]
fn whole_session_frames_as_the_spec_shows() {
    assert_eq!(frames(SESSION), session_frames());
}

#[test]
fn bytewise_feed_gives_same_frames() {
    let mut f = ResponseFramer::default();
    assert_eq!(frames_chunked(&mut f, SESSION, 1), session_frames());
}

#[test]
fn payload_with_ok_and_urc_inside_is_one_frame() {
    let got = frames(b"+SOCKETREAD,3,12,\r\nOK\r\n+EVENT\r\nOK\r\n");
    assert_eq!(
        got,
        vec![
            Owned::Payload(PayloadSource::SocketRead, 3, b"\r\nOK\r\n+EVENT".to_vec()),
            Owned::Ok
        ]
    );
}

#[test]
fn payload_may_hold_nul_and_any_byte() {
    let mut input = b"+SOCKETREAD,2,256,".to_vec();
    let body: Vec<u8> = (0..=255u8).collect();
    input.extend_from_slice(&body);
    input.extend_from_slice(b"\r\nOK\r\n");
    assert_eq!(
        frames(&input),
        vec![
            Owned::Payload(PayloadSource::SocketRead, 2, body),
            Owned::Ok
        ]
    );
}

#[test]
fn garbage_prefix_becomes_an_info_line_then_framing_continues() {
    assert_eq!(
        frames(b"\x00\xff garbage\r\nOK\r\n"),
        vec![Owned::Info(b"\x00\xff garbage".to_vec()), Owned::Ok]
    );
}

#[test]
fn urc_between_command_and_reply_is_its_own_frame() {
    assert_eq!(
        frames(b"AT+WDNS?\r\n+EVENT:WIFI_GOT_IP\r\n+WDNS:1.1.1.1,0.0.0.0\r\nOK\r\n"),
        vec![
            Owned::Echo(b"AT+WDNS?".to_vec()),
            Owned::Urc(b"+EVENT:WIFI_GOT_IP".to_vec()),
            info("+WDNS:1.1.1.1,0.0.0.0"),
            Owned::Ok
        ]
    );
}

#[test]
fn urc_between_prompt_and_reply_is_its_own_frame() {
    assert_eq!(
        frames(b"> +EVENT:SocketDisconnect,2\r\nOK\r\n"),
        vec![
            Owned::Prompt,
            Owned::Urc(b"+EVENT:SocketDisconnect,2".to_vec()),
            Owned::Ok
        ]
    );
}

#[test]
fn error_code_survives_an_urc_in_between() {
    assert_eq!(
        frames(b"+SOCKET:97\r\n+EVENT:WIFI_CONNECT\r\nERROR\r\n")[2],
        Owned::Error(Some(b"SOCKET".to_vec()), Some(97))
    );
}

#[test]
fn gmr_lines_starting_with_at_and_a_space_are_information() {
    assert_eq!(
        frames(b"AT+GMR\r\nAT version:1.0\r\nOK\r\n"),
        vec![
            Owned::Echo(b"AT+GMR".to_vec()),
            info("AT version:1.0"),
            Owned::Ok
        ]
    );
}

#[test]
fn plain_error_has_no_code() {
    assert_eq!(
        frames(b"Unknown cmd:AT+FOO\r\nERROR\r\n"),
        vec![info("Unknown cmd:AT+FOO"), Owned::Error(None, None)]
    );
}

#[test]
fn passive_socketdown_is_an_urc_not_a_payload() {
    assert_eq!(
        frames(b"+EVENT:SocketDown,1,21\r\n"),
        vec![Owned::Urc(b"+EVENT:SocketDown,1,21".to_vec())]
    );
}

#[test]
fn partial_header_waits_for_more() {
    let mut f = ResponseFramer::default();
    f.push(b"+EVENT:SocketDown,1,21");
    assert_eq!(f.next_frame(), Ok(None));
    f.push(b",x\r\n");
    // declared 21 bytes: still waiting
    assert_eq!(f.next_frame(), Ok(None));
}

#[test]
fn overlong_line_errors_once_and_resyncs_at_next_line_end() {
    let mut f = ResponseFramer::new(16, 64);
    let mut input = vec![b'x'; 40];
    input.extend_from_slice(b"yyy\r\nOK\r\n");
    let got = frames_chunked(&mut f, &input, 7);
    assert_eq!(
        got,
        vec![Owned::Err(CoreError::LineTooLong { limit: 16 }), Owned::Ok]
    );
    assert!(f.pending() <= 16 + 7);
}

#[test]
fn line_of_exactly_the_limit_is_accepted_when_its_cr_arrives_first() {
    // found by cargo fuzz: "1234\r" then "\n" was refused, "1234\r\n" accepted
    let mut f = ResponseFramer::new(4, 64);
    assert_eq!(
        frames_chunked(&mut f, b"1234\r\nOK\r\n", 5),
        vec![info("1234"), Owned::Ok]
    );
}

#[test]
fn complete_overlong_line_is_an_error() {
    let mut f = ResponseFramer::new(4, 64);
    assert_eq!(
        frames_chunked(&mut f, b"123456\r\nOK\r\n", 100),
        vec![Owned::Err(CoreError::LineTooLong { limit: 4 }), Owned::Ok]
    );
}

#[test]
fn absurd_length_is_an_error_not_an_allocation() {
    let mut f = ResponseFramer::default();
    let got = frames_chunked(&mut f, b"+SOCKETREAD,1,2147483648,abc\r\nOK\r\n", 5);
    assert_eq!(
        got,
        vec![
            Owned::Err(CoreError::PayloadTooLong {
                declared: 2_147_483_648,
                limit: 65536
            }),
            Owned::Ok
        ]
    );
}

#[test]
fn huge_digit_runs_are_not_headers() {
    let mut input = b"+SOCKETREAD,1,".to_vec();
    input.extend_from_slice(&[b'9'; 30]);
    input.extend_from_slice(b"\r\n");
    assert_eq!(
        frames(&input),
        vec![Owned::Info(input[..input.len() - 2].to_vec())]
    );
}

#[test]
fn prompt_with_space_then_data_reply() {
    assert_eq!(
        frames(b"AT+SSLCRET=1,3\r\n> OK\r\n"),
        vec![
            Owned::Echo(b"AT+SSLCRET=1,3".to_vec()),
            Owned::Prompt,
            Owned::Ok
        ]
    );
}

#[test]
fn reply_after_a_prompt_and_space_ending_a_chunk_is_framed() {
    // found by the benchmark's agreement check: "> " closing one read, "\r\nOK" the next
    let mut f = ResponseFramer::default();
    let mut got = frames_chunked(&mut f, b"AT+SOCKETSEND=2,46\r\n> ", 1000);
    let _ = f.take_consumed();
    got.extend(frames_chunked(&mut f, b"\r\nOK\r\nAT\r\n", 1000));
    assert_eq!(
        got,
        vec![
            Owned::Echo(b"AT+SOCKETSEND=2,46".to_vec()),
            Owned::Prompt,
            Owned::Ok,
            Owned::Echo(b"AT".to_vec())
        ]
    );
}

#[test]
fn armed_prompt_starts_passthrough_in_the_same_chunk() {
    let mut f = ResponseFramer::default();
    f.arm_transparent();
    let got = frames_chunked(&mut f, b"AT+SOCKETTT\r\n> OK\r\n+EVENT:\x00", 1000);
    assert_eq!(
        got,
        vec![
            Owned::Echo(b"AT+SOCKETTT".to_vec()),
            Owned::Prompt,
            Owned::Data(b" OK\r\n+EVENT:\x00".to_vec())
        ]
    );
    assert!(f.in_passthrough());
}

#[test]
fn exit_reply_ends_passthrough_only_when_pending() {
    let mut f = ResponseFramer::default();
    f.enter_passthrough();
    let mut got = frames_chunked(&mut f, b"a\r\nOK\r\nb", 1);
    f.begin_exit();
    got.extend(frames_chunked(&mut f, b"c\r\nOK\r\nAT\r\nOK\r\n", 1));
    assert_eq!(
        merge_data(got),
        vec![
            Owned::Data(b"a\r\nOK\r\nbc".to_vec()),
            Owned::Exit,
            Owned::Echo(b"AT".to_vec()),
            Owned::Ok
        ]
    );
    assert!(!f.in_passthrough());
}

#[test]
fn streaming_means_the_next_input_is_one_data_frame_of_itself() {
    let mut f = ResponseFramer::default();
    assert!(!f.streaming());
    f.arm_transparent();
    assert!(!f.streaming()); // (the prompt has not come)
    frames_chunked(&mut f, b"AT+SOCKETTT\r\n>", 1000);
    assert!(f.streaming());
    let got = frames_chunked(&mut f, b"\r\nOK\r\nready\r\n", 1000);
    assert_eq!(got, vec![Owned::Data(b"\r\nOK\r\nready\r\n".to_vec())]);
    assert!(f.streaming());
    f.begin_exit();
    assert!(!f.streaming()); // (the exit reply may come now)
    frames_chunked(&mut f, b"x\r\nO", 1000);
    assert!(!f.streaming());
    f.leave_passthrough();
    assert!(!f.streaming());
}

#[test]
fn take_consumed_keeps_spans_valid_and_tail_buffered() {
    let mut f = ResponseFramer::default();
    f.push(b"+WDNS:1.1.1.1\r\nOK\r\nAT+PART");
    let Ok(Some(Frame::Info { line })) = f.next_frame() else {
        panic!("info")
    };
    assert_eq!(
        f.next_frame(),
        Ok(Some(Frame::Ok {
            line: Span::new(15, 17)
        }))
    );
    assert_eq!(f.next_frame(), Ok(None));
    let head = f.take_consumed();
    assert_eq!(&head[line.start..line.end], b"+WDNS:1.1.1.1");
    f.push(b"IAL\r\n");
    assert_eq!(
        f.next_frame().map(|o| o.map(|fr| own(&f, fr))),
        Ok(Some(Owned::Echo(b"AT+PARTIAL".to_vec())))
    );
}

#[test]
fn take_consumed_hands_out_exactly_the_framed_bytes_and_keeps_bounded_room() {
    let mut f = ResponseFramer::new(DEFAULT_MAX_LINE, 1 << 20);
    let mut big = format!("+SOCKETREAD,1,{},", 300_000).into_bytes();
    big.extend(std::iter::repeat_n(b'x', 300_000));
    big.extend_from_slice(b"\r\nOK\r\nAT+PART");
    f.push(&big);
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Payload { .. }))));
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Ok { .. }))));
    let head = f.take_consumed();
    // no slack of the buffer goes out with the frames a caller keeps ...
    assert_eq!(head.len(), big.len() - b"AT+PART".len());
    assert_eq!(head.capacity(), head.len());
    // ... and the buffer does not keep the room of a frame far larger than most
    assert!(
        f.buf.capacity() <= KEEP_ROOM,
        "kept {} bytes of room",
        f.buf.capacity()
    );
    f.push(b"IAL\r\n");
    assert_eq!(
        f.next_frame().map(|o| o.map(|fr| own(&f, fr))),
        Ok(Some(Owned::Echo(b"AT+PARTIAL".to_vec())))
    );
}

#[test]
fn reset_forgets_partial_frames_and_modes() {
    let mut f = ResponseFramer::default();
    f.push(b"+SOCKETREAD,1,50,abc");
    f.enter_passthrough();
    f.reset();
    assert_eq!(f.pending(), 0);
    assert!(!f.in_passthrough());
    f.push(b"OK\r\n");
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Ok { .. }))));
}

/// Generates a module output stream of random frames.
fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"OK\r\n".to_vec()),
        Just(b"+SOCKET:97\r\nERROR\r\n".to_vec()),
        Just(b"AT+SOCKET?\r\n".to_vec()),
        Just(b"1,4,1,127.0.0.1,6000,-1,-1\r\n".to_vec()),
        Just(b">".to_vec()),
        Just(b"> ".to_vec()),
        Just(b"+EVENT:SocketDisconnect,3\r\n".to_vec()),
        Just(b"connect success ConID=7\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|data| {
            let mut v = format!("+SOCKETREAD,1,{},", data.len()).into_bytes();
            v.extend_from_slice(&data);
            v.extend_from_slice(b"\r\n");
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|data| {
            let mut v = format!("+EVENT:SocketDown,2,{},", data.len()).into_bytes();
            v.extend_from_slice(&data);
            v
        }),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_frames(stream in stream_strategy(), chunk in 1usize..700) {
        let whole = frames(&stream);
        let mut f = ResponseFramer::default();
        prop_assert_eq!(frames_chunked(&mut f, &stream, chunk), whole);
    }

    #[test]
    fn framing_in_place_gives_the_same_frames(stream in stream_strategy(), chunk in 1usize..700) {
        let whole = frames(&stream);
        let mut f = ResponseFramer::default();
        prop_assert_eq!(frames_in_place(&mut f, &stream, chunk), whole);
    }

    #[test]
    fn arbitrary_bytes_framed_in_place_agree_and_stay_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..300,
    ) {
        let mut f = ResponseFramer::new(64, 128);
        let whole = frames_chunked(&mut ResponseFramer::new(64, 128), &data, usize::MAX);
        prop_assert_eq!(frames_in_place(&mut f, &data, chunk), whole);
        prop_assert!(f.pending() <= 128 + 64);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..300,
    ) {
        let mut f = ResponseFramer::new(64, 128);
        let whole = frames_chunked(&mut ResponseFramer::new(64, 128), &data, usize::MAX);
        let got = frames_chunked(&mut f, &data, chunk);
        prop_assert_eq!(got, whole);
        // one partial frame at most: a header, a payload, or a line
        prop_assert!(f.pending() <= 128 + 64);
    }

    #[test]
    fn passthrough_delivers_every_byte_until_the_exit_reply_framed_either_way(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        chunk in 1usize..64,
    ) {
        let mut f = ResponseFramer::default();
        f.enter_passthrough();
        f.begin_exit();
        let mut input = data.clone();
        input.extend_from_slice(TRANSPARENT_EXIT);
        let got = frames_chunked(&mut f, &input, chunk);
        prop_assert_eq!(&got, &expected_passthrough(&input));
        let mut g = ResponseFramer::default();
        g.enter_passthrough();
        g.begin_exit();
        prop_assert_eq!(frames_in_place(&mut g, &input, chunk), got);
    }
}

/// `input` read in passthrough with an exit pending: data, the exit, then lines.
fn expected_passthrough(input: &[u8]) -> Vec<Owned> {
    let cut = memmem::find(input, TRANSPARENT_EXIT).unwrap();
    let mut expected = Vec::new();
    if cut > 0 {
        expected.push(Owned::Data(input[..cut].to_vec()));
    }
    expected.push(Owned::Exit);
    let rest = &input[cut + TRANSPARENT_EXIT.len()..];
    expected.extend(frames(rest));
    expected
}
