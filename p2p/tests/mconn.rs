//! MConnection: the sans-IO core with exact bytes and times, and the driver
//! over in-memory streams on tokio's paused clock.

use std::time::Duration;

use p2p::mconn::channel::ChannelDescriptor;
use p2p::mconn::packet::{self, Packet, PING_BYTES, PONG_BYTES};
use p2p::mconn::{ConfigError, Event, MConnConfig, MConnError, MConnection, TrySendError};
use p2p::time::Instant;
use proptest::prelude::*;

fn ms(n: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(n))
}

fn unlimited() -> MConnConfig {
    MConnConfig {
        send_rate: 0,
        recv_rate: 0,
        ..MConnConfig::default()
    }
}

fn desc(id: u8, priority: u32, cap: usize) -> ChannelDescriptor {
    ChannelDescriptor {
        send_queue_capacity: cap,
        ..ChannelDescriptor::new(id, priority)
    }
}

fn core(cfg: MConnConfig, chans: &[ChannelDescriptor]) -> MConnection {
    MConnection::new(Instant::ZERO, cfg, chans).unwrap()
}

/// Everything `poll_transmit` has to say at `now`.
fn transmit_all(c: &mut MConnection, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    while c.poll_transmit(now, &mut out) > 0 {}
    out
}

fn parse(mut bytes: &[u8]) -> Vec<Packet> {
    let mut v = Vec::new();
    while let Some((p, n)) = packet::split_packet(bytes, 1034).unwrap() {
        v.push(p);
        bytes = &bytes[n..];
    }
    assert!(bytes.is_empty());
    v
}

fn events(c: &mut MConnection) -> Vec<(u8, Vec<u8>)> {
    std::iter::from_fn(|| c.poll_event())
        .map(|Event::Received { channel, message }| (channel, message))
        .collect()
}

#[test]
fn config_errors() {
    let bad = MConnConfig {
        pong_timeout: Duration::from_secs(60),
        ..MConnConfig::default()
    };
    assert_eq!(
        MConnection::new(Instant::ZERO, bad, &[]).unwrap_err(),
        ConfigError::PongTimeoutNotBelowPingInterval {
            pong_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(60)
        }
    );
    let zero = ChannelDescriptor::new(3, 0);
    assert_eq!(
        MConnection::new(Instant::ZERO, MConnConfig::default(), &[zero]).unwrap_err(),
        ConfigError::ZeroPriority { channel: 3 }
    );
    let d = ChannelDescriptor::new(3, 1);
    assert_eq!(
        MConnection::new(Instant::ZERO, MConnConfig::default(), &[d, d]).unwrap_err(),
        ConfigError::DuplicateChannel { channel: 3 }
    );
    let nopay = MConnConfig {
        max_packet_msg_payload_size: 0,
        ..MConnConfig::default()
    };
    assert_eq!(
        MConnection::new(Instant::ZERO, nopay, &[]).unwrap_err(),
        ConfigError::ZeroPayloadSize
    );
    assert_eq!(core(MConnConfig::default(), &[]).max_packet_size(), 1034);
}

#[test]
fn try_send_queue_capacity_plus_one_in_flight() {
    let mut c = core(unlimited(), &[desc(1, 1, 1)]);
    assert_eq!(c.try_send(1, vec![1; 20_000]), Ok(()));
    assert_eq!(c.try_send(1, vec![2]), Err(TrySendError::Full));
    assert_eq!(c.try_send(9, vec![3]), Err(TrySendError::UnknownChannel));
    // One batch (10 packets) moves the message in flight: room for one more.
    let mut out = Vec::new();
    assert_eq!(c.poll_transmit(ms(0), &mut out), 10 * 1034);
    assert_eq!(c.try_send(1, vec![2]), Ok(()));
    assert_eq!(c.try_send(1, vec![3]), Err(TrySendError::Full));
    let st = c.status(ms(0));
    assert_eq!(st.channels[0].send_queue_size, 2);
    assert_eq!(st.channels[0].pending_send_bytes, 20_000 - 10 * 1024 + 1);
    assert_eq!(st.channels[0].messages_sent, 0);
    while c.poll_transmit(ms(0), &mut out) > 0 {}
    let st = c.status(ms(0));
    assert_eq!(st.channels[0].send_queue_size, 0);
    assert_eq!(st.channels[0].messages_sent, 2);
    assert_eq!(st.channels[0].bytes_sent, 20_001);
    c.close();
    assert_eq!(c.try_send(1, vec![4]), Err(TrySendError::Closed));
    assert_eq!(c.poll_transmit(ms(1), &mut out), 0);
}

#[test]
fn multi_packet_message_reassembles_across_split_input() {
    let mut a = core(unlimited(), &[desc(0x21, 1, 10), desc(0, 1, 10)]);
    let mut b = core(unlimited(), &[desc(0, 1, 10), desc(0x21, 1, 10)]);
    let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    a.try_send(0x21, big.clone()).unwrap();
    a.try_send(0, vec![0x0a, 0x00]).unwrap();
    a.try_send(0x21, vec![]).unwrap();
    let wire = transmit_all(&mut a, ms(0));
    // Feed one byte at a time: partial packets are buffered.
    for byte in &wire {
        b.handle_input(ms(0), std::slice::from_ref(byte)).unwrap();
    }
    // Channel 0 gets its turn after the first 1034-byte packet of 0x21.
    assert_eq!(
        events(&mut b),
        vec![(0, vec![0x0a, 0x00]), (0x21, big), (0x21, vec![])]
    );
    assert_eq!(b.pending_recv_bytes(), 0);
    let st = b.status(ms(0));
    assert_eq!(st.channels[1].messages_received, 2);
    assert_eq!(st.channels[1].bytes_received, 3000);
    assert_eq!(st.recv.bytes, wire.len() as u64);
}

#[test]
fn recv_message_capacity_overflow_closes() {
    let small = ChannelDescriptor {
        recv_message_capacity: 2000,
        ..ChannelDescriptor::new(1, 1)
    };
    let mut b = core(unlimited(), &[small]);
    let mut wire = Vec::new();
    packet::encode_msg(1, false, &[0; 1024], &mut wire);
    packet::encode_msg(1, true, &[0; 1000], &mut wire);
    let err = b.handle_input(ms(0), &wire).unwrap_err();
    assert!(matches!(
        err,
        MConnError::MessageTooLarge {
            channel: 1,
            len: 2024,
            max: 2000
        }
    ));
    assert!(err.is_peer_misbehavior());
    // Closed for good: the same reason again, nothing to send.
    assert!(matches!(
        b.handle_input(ms(1), &PING_BYTES),
        Err(MConnError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        b.close_reason(),
        Some(Err(MConnError::MessageTooLarge { .. }))
    ));
    assert_eq!(transmit_all(&mut b, ms(1)), Vec::<u8>::new());
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn unknown_channel_and_oversize_packet() {
    let mut b = core(unlimited(), &[desc(1, 1, 1)]);
    let mut wire = Vec::new();
    packet::encode_msg(5, true, b"hi", &mut wire);
    assert!(matches!(
        b.handle_input(ms(0), &wire),
        Err(MConnError::UnknownChannel(5))
    ));
    // A 1035-byte body is refused from its two prefix bytes alone.
    let mut b = core(unlimited(), &[desc(1, 1, 1)]);
    assert!(matches!(
        b.handle_input(ms(0), &[0x8b, 0x08]),
        Err(MConnError::PacketTooLarge {
            len: 1035,
            max: 1034
        })
    ));
    let mut b = core(unlimited(), &[desc(1, 1, 1)]);
    assert!(matches!(
        b.handle_input(ms(0), &[0x00]),
        Err(MConnError::EmptyPacket)
    ));
    let mut b = core(unlimited(), &[desc(1, 1, 1)]);
    assert!(matches!(
        b.handle_input(ms(0), &[0x02, 0x1a, 0x05]),
        Err(MConnError::Malformed(_))
    ));
}

fn channel_sequence(chans: &[ChannelDescriptor], n: usize) -> Vec<u8> {
    let mut c = core(unlimited(), chans);
    for d in chans {
        c.try_send(d.id, vec![0; 40 * 1024]).unwrap();
    }
    let mut out = Vec::new();
    while parse_count(&out) < n {
        assert!(c.poll_transmit(ms(0), &mut out) > 0);
    }
    parse(&out)
        .into_iter()
        .take(n)
        .map(|p| match p {
            Packet::Msg(m) => m.channel,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn parse_count(bytes: &[u8]) -> usize {
    parse(bytes).len()
}

#[test]
fn scheduler_prefers_smallest_recently_sent_over_priority() {
    // Priority 1 (registered first) vs priority 10: one packet of 1034 bytes
    // on channel 1 equals ten on channel 2; the tie goes to channel 1.
    let seq = channel_sequence(&[desc(1, 1, 1), desc(2, 10, 1)], 34);
    let mut want = Vec::new();
    for _ in 0..3 {
        want.push(1);
        want.extend([2; 10]);
    }
    want.push(1);
    assert_eq!(seq, want);
}

#[test]
fn scheduler_ties_go_to_first_registered() {
    let seq = channel_sequence(&[desc(7, 2, 1), desc(3, 2, 1)], 6);
    assert_eq!(seq, [7, 3, 7, 3, 7, 3]);
}

#[test]
fn recently_sent_decays_every_two_seconds() {
    let mut c = core(unlimited(), &[desc(1, 1, 1)]);
    c.try_send(1, vec![0; 1024]).unwrap();
    assert_eq!(transmit_all(&mut c, ms(0)).len(), 1036);
    let rs = |c: &mut MConnection, t| c.status(t).channels[0].recently_sent;
    c.handle_timeout(ms(1999)).unwrap();
    assert_eq!(rs(&mut c, ms(1999)), 1036);
    assert_eq!(c.poll_timeout(), Some(ms(100))); // the flush deadline comes first
    c.mark_flushed();
    assert_eq!(c.poll_timeout(), Some(ms(2000)));
    c.handle_timeout(ms(2000)).unwrap();
    assert_eq!(rs(&mut c, ms(2000)), 828);
    c.handle_timeout(ms(4000)).unwrap();
    assert_eq!(rs(&mut c, ms(4000)), 662);
}

#[test]
fn ping_at_60s_and_pong_timeout_at_105s() {
    let mut c = core(MConnConfig::default(), &[desc(1, 1, 1)]);
    c.handle_timeout(ms(59_999)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(59_999)), Vec::<u8>::new());
    c.handle_timeout(ms(60_000)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(60_000)), PING_BYTES);
    assert!(c.needs_flush(ms(60_000)));
    c.mark_flushed();
    c.handle_timeout(ms(62_000)).unwrap();
    assert_eq!(c.poll_timeout(), Some(ms(64_000)));
    c.handle_timeout(ms(104_000)).unwrap();
    assert_eq!(c.poll_timeout(), Some(ms(105_000)));
    c.handle_timeout(ms(104_999)).unwrap();
    let err = c.handle_timeout(ms(105_000)).unwrap_err();
    assert!(matches!(err, MConnError::PongTimeout));
    assert!(!err.is_peer_misbehavior());
    assert_eq!(c.try_send(1, vec![]), Err(TrySendError::Closed));
}

#[test]
fn pong_cancels_the_timeout_and_pings_continue() {
    let mut c = core(MConnConfig::default(), &[]);
    c.handle_timeout(ms(60_000)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(60_000)), PING_BYTES);
    assert_eq!(c.status(ms(60_100)).last_ping_rtt, None);
    c.handle_input(ms(60_500), &PONG_BYTES).unwrap();
    assert_eq!(
        c.status(ms(60_500)).last_ping_rtt,
        Some(Duration::from_millis(500))
    );
    // An unsolicited pong does not change the measurement.
    c.handle_input(ms(61_000), &PONG_BYTES).unwrap();
    assert_eq!(
        c.status(ms(61_000)).last_ping_rtt,
        Some(Duration::from_millis(500))
    );
    c.handle_timeout(ms(105_000)).unwrap();
    c.handle_timeout(ms(119_999)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(119_999)), Vec::<u8>::new());
    c.handle_timeout(ms(120_000)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(120_000)), PING_BYTES);
}

#[test]
fn pings_are_answered_with_one_coalesced_pong_first() {
    let mut c = core(unlimited(), &[desc(1, 1, 1)]);
    c.try_send(1, vec![9]).unwrap();
    let mut input = Vec::new();
    for _ in 0..3 {
        input.extend_from_slice(&PING_BYTES);
    }
    c.handle_input(ms(5), &input).unwrap();
    let out = transmit_all(&mut c, ms(5));
    assert_eq!(
        out,
        hex_to_vec("021200" /* pong */, "09 1a 07 08 01 10 01 1a 01 09")
    );
    assert!(c.needs_flush(ms(5)));
}

fn hex_to_vec(a: &str, b: &str) -> Vec<u8> {
    let mut v = hex::decode(a).unwrap();
    v.extend(hex::decode(b.replace(' ', "")).unwrap());
    v
}

#[test]
fn flush_throttle_deadline() {
    let mut c = core(unlimited(), &[desc(1, 1, 5)]);
    assert_eq!(c.flush_deadline(), None);
    c.try_send(1, vec![1]).unwrap();
    transmit_all(&mut c, ms(1000));
    assert_eq!(c.flush_deadline(), Some(ms(1100)));
    c.try_send(1, vec![2]).unwrap();
    transmit_all(&mut c, ms(1050));
    assert_eq!(c.flush_deadline(), Some(ms(1100))); // first unflushed packet counts
    assert!(!c.needs_flush(ms(1099)));
    assert!(c.needs_flush(ms(1100)));
    c.mark_flushed();
    assert_eq!(c.flush_deadline(), None);
}

#[test]
fn send_rate_limits_a_2mib_burst_to_0_4s() {
    let mut c = core(MConnConfig::default(), &[desc(1, 1, 1)]);
    c.try_send(1, vec![7; 2 << 20]).unwrap();
    let mut now = Instant::ZERO;
    let mut sent = 0;
    let mut last_write = now;
    while sent < 2048 * 1034 + 2 {
        let out = transmit_all(&mut c, now);
        if !out.is_empty() {
            sent += out.len();
            last_write = now;
        }
        if c.needs_flush(now) {
            c.mark_flushed();
        }
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now).unwrap();
    }
    assert_eq!(sent, 2047 * 1034 + 1036);
    assert_eq!(last_write, ms(400));
    let st = c.status(ms(400));
    assert_eq!(st.send.bytes, sent as u64);
}

#[test]
fn recv_rate_limit_holds_input_back() {
    let mut a = core(unlimited(), &[desc(1, 1, 1)]);
    a.try_send(1, vec![7; 2 << 20]).unwrap();
    let wire = transmit_all(&mut a, ms(0));
    let mut b = core(MConnConfig::default(), &[desc(1, 1, 1)]);
    b.handle_input(ms(0), &wire).unwrap();
    // 496 packets of 1034 bytes reach the 512,000-byte budget.
    assert_eq!(b.buffered_input(), wire.len() - 496 * 1034);
    assert_eq!(b.recv_ready_at(ms(0)), Some(ms(100)));
    for t in [100, 200, 300] {
        b.handle_timeout(ms(t)).unwrap();
        assert_eq!(b.poll_event(), None);
    }
    b.handle_timeout(ms(400)).unwrap();
    assert_eq!(b.buffered_input(), 0);
    assert_eq!(events(&mut b), vec![(1, vec![7; 2 << 20])]);
}

#[test]
fn paused_reading_freezes_the_pong_deadline() {
    let mut c = core(MConnConfig::default(), &[]);
    c.handle_timeout(ms(60_000)).unwrap();
    assert_eq!(transmit_all(&mut c, ms(60_000)), PING_BYTES);
    assert_eq!(c.flush_deadline(), Some(ms(60_000)));
    c.mark_flushed();
    c.set_reading_paused(ms(70_000), true);
    c.handle_timeout(ms(200_000)).unwrap();
    c.set_reading_paused(ms(200_000), false);
    assert_eq!(c.poll_timeout(), Some(ms(202_000)));
    c.handle_timeout(ms(234_999)).unwrap();
    assert!(matches!(
        c.handle_timeout(ms(235_000)),
        Err(MConnError::PongTimeout)
    ));
}

#[test]
fn flush_stop_in_core_drains_then_reports_done() {
    let mut c = core(unlimited(), &[desc(1, 1, 3)]);
    c.try_send(1, vec![1; 3000]).unwrap();
    c.try_send(1, vec![2; 10]).unwrap();
    c.start_flush_stop();
    assert_eq!(c.try_send(1, vec![3]), Err(TrySendError::Closed));
    assert!(!c.is_flush_stop_done());
    let out = transmit_all(&mut c, ms(0));
    assert_eq!(parse(&out).len(), 4);
    assert!(c.is_flush_stop_done());
}

proptest! {
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = packet::split_packet(&bytes, 1034);
        let _ = packet::decode_body(&bytes);
    }

    #[test]
    fn handle_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        ticks in 0u64..200_000,
    ) {
        let mut c = core(MConnConfig::default(), &[desc(0, 1, 1), desc(1, 5, 1)]);
        let mut failed = false;
        for (i, ch) in chunks.iter().enumerate() {
            let now = ms(ticks * i as u64 / 20);
            let r = c.handle_input(now, ch);
            prop_assert!(!(failed && r.is_ok()), "an error must stick");
            failed |= r.is_err();
            let _ = c.handle_timeout(now);
            let mut out = Vec::new();
            let _ = c.poll_transmit(now, &mut out);
            while c.poll_event().is_some() {}
        }
    }

    #[test]
    fn messages_round_trip_between_cores(
        msgs in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..5000)), 0..12),
        split in 1usize..4000,
    ) {
        let chans = [desc(0, 1, 20), desc(1, 3, 20), desc(2, 7, 20)];
        let mut a = core(unlimited(), &chans);
        let mut b = core(unlimited(), &chans);
        for (ch, m) in &msgs {
            a.try_send(*ch, m.clone()).unwrap();
        }
        let wire = transmit_all(&mut a, ms(0));
        for part in wire.chunks(split) {
            b.handle_input(ms(0), part).unwrap();
        }
        let got = events(&mut b);
        for ch in 0..3u8 {
            let want: Vec<_> = msgs.iter().filter(|m| m.0 == ch).collect();
            let have: Vec<_> = got.iter().filter(|m| m.0 == ch).collect();
            prop_assert_eq!(want, have);
        }
    }
}

/// The driver over in-memory streams, on tokio's paused (virtual) clock.
#[cfg(feature = "tcp")]
mod driver {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
    use p2p::mconn::{spawn, DriverConfig, MConnHandle, DEFAULT_SEND_TIMEOUT};
    use p2p::net::memory::MemoryStream;
    use p2p::net::tcp::TokioRuntime;
    use p2p::net::Runtime;

    fn streams(capacity: usize) -> (MemoryStream, MemoryStream) {
        MemoryStream::pair(
            "10.0.0.1:26656".parse().unwrap(),
            "10.0.0.2:26656".parse().unwrap(),
            capacity,
        )
    }

    fn secs(n: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(n))
    }

    fn start(
        rt: &TokioRuntime,
        s: MemoryStream,
        chans: &[ChannelDescriptor],
        dcfg: DriverConfig,
    ) -> (MConnHandle, p2p::mconn::Inbound) {
        spawn(rt, s, MConnConfig::default(), chans, dcfg).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn messages_flow_in_order_and_keepalive_bytes_are_exact() {
        let rt = TokioRuntime::new();
        let (s1, s2) = streams(1 << 16);
        let chans = [desc(1, 1, 10), desc(2, 5, 10)];
        let (a, mut a_in) = start(&rt, s1, &chans, DriverConfig::default());
        let (b, mut b_in) = start(&rt, s2, &chans, DriverConfig::default());
        assert!(!a.try_send(9, vec![1]));
        let msg = |i: u32| vec![i as u8; (i as usize * 397) % 5000];
        for i in 0..40u32 {
            assert!(a.send(1 + (i % 2) as u8, msg(i)).await);
        }
        let mut got = Vec::new();
        for _ in 0..40 {
            got.push(b_in.next().await.unwrap());
        }
        for ch in [1u8, 2] {
            let want: Vec<_> = (0..40u32)
                .filter(|i| 1 + (i % 2) as u8 == ch)
                .map(|i| (ch, msg(i)))
                .collect();
            let have: Vec<_> = got.iter().filter(|m| m.0 == ch).cloned().collect();
            assert_eq!(have, want);
        }
        assert!(b.try_send(2, b"back".to_vec()));
        assert_eq!(a_in.next().await, Some((2, b"back".to_vec())));
        assert!(rt.now() < secs(1));
        let st = a.status();
        assert_eq!(st.channels[0].messages_sent, 20);
        assert_eq!(st.channels[1].messages_received, 1);
        let b_recv = b.status().recv.bytes;
        assert_eq!(b_recv, st.send.bytes);
        // Idle until 200 s: pings at 60, 120, 180 s and the pongs, each way.
        tokio::time::sleep(Duration::from_secs(200) - (rt.now() - Instant::ZERO)).await;
        assert!(a.is_running() && b.is_running());
        assert_eq!(a.status().send.bytes - st.send.bytes, 6 * 3);
        assert_eq!(b.status().recv.bytes - b_recv, 6 * 3);
    }

    #[tokio::test(start_paused = true)]
    async fn send_waits_ten_seconds_then_succeeds_once_there_is_room() {
        let rt = TokioRuntime::new();
        let (s1, mut peer) = streams(1024);
        let dcfg = DriverConfig {
            write_buffer_size: 4096,
            ..DriverConfig::default()
        };
        let (a, _a_in) = start(&rt, s1, &[desc(1, 1, 1)], dcfg);
        assert!(a.try_send(1, vec![0; 100_000]));
        tokio::task::yield_now().await; // the driver takes it in flight
        assert!(a.try_send(1, vec![1]));
        assert!(!a.try_send(1, vec![2]));
        let t0 = rt.now();
        assert!(!a.send(1, vec![2]).await);
        assert_eq!(rt.now() - t0, DEFAULT_SEND_TIMEOUT);
        tokio::spawn(async move {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n) = peer.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let t1 = rt.now();
        assert!(a.send(1, vec![3]).await);
        assert!(rt.now() - t1 < Duration::from_secs(1));
        assert_eq!(a.status().channels[0].send_queue_capacity, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_consumer_within_backlog_keeps_both_sides_alive() {
        let rt = TokioRuntime::new();
        let (s1, s2) = streams(1 << 16);
        let chans = [desc(1, 1, 100)];
        let (a, _a_in) = start(&rt, s1, &chans, DriverConfig::default());
        let small = DriverConfig {
            inbound_capacity: 1,
            ..DriverConfig::default()
        };
        let (b, mut b_in) = start(&rt, s2, &chans, small);
        for i in 0..50u8 {
            assert!(a.try_send(1, vec![i; 1000]));
        }
        // The consumer of `b` does nothing for 300 s (five ping intervals).
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(a.is_running() && b.is_running());
        assert_eq!(a.status().channels[0].messages_sent, 50);
        for i in 0..50u8 {
            assert_eq!(b_in.next().await, Some((1, vec![i; 1000])));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reading_paused_for_a_slow_consumer_does_not_count_against_the_peer() {
        let rt = TokioRuntime::new();
        let (s1, mut peer) = streams(1 << 18);
        let dcfg = DriverConfig {
            inbound_capacity: 1,
            recv_backlog_limit: 10_000,
            ..DriverConfig::default()
        };
        let (b, mut b_in) = start(&rt, s1, &[desc(1, 1, 1)], dcfg);
        // A raw peer sends 200 messages and never answers pings.
        let mut wire = Vec::new();
        for i in 0..200u32 {
            packet::encode_msg(1, true, &[i as u8; 1000], &mut wire);
        }
        peer.write_all(&wire).await.unwrap();
        tokio::time::sleep(Duration::from_secs(300)).await;
        // Pings went out at 60..300 s without pongs, but `b` was not reading.
        assert!(b.is_running());
        assert_eq!(rt.now(), secs(300));
        for i in 0..200u32 {
            assert_eq!(b_in.next().await, Some((1, vec![i as u8; 1000])));
        }
        // Reading again: the last ping's 45 s start counting now.
        assert!(matches!(b.closed().await, Err(MConnError::PongTimeout)));
        assert_eq!(rt.now(), secs(345));
        drop(peer);
    }

    #[tokio::test(start_paused = true)]
    async fn protocol_violation_closes_with_the_reason() {
        let rt = TokioRuntime::new();
        let (s1, mut peer) = streams(1 << 16);
        let (b, _b_in) = start(&rt, s1, &[desc(1, 1, 1)], DriverConfig::default());
        let mut wire = Vec::new();
        packet::encode_msg(9, true, b"x", &mut wire);
        peer.write_all(&wire).await.unwrap();
        assert!(matches!(
            b.closed().await,
            Err(MConnError::UnknownChannel(9))
        ));
        assert!(!b.try_send(1, vec![]));
        let mut buf = [0u8; 16];
        assert_eq!(peer.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn close_is_clean_locally_and_closed_by_peer_remotely() {
        let rt = TokioRuntime::new();
        let (s1, s2) = streams(1 << 16);
        let (a, _a_in) = start(&rt, s1, &[desc(1, 1, 1)], DriverConfig::default());
        let (b, _b_in) = start(&rt, s2, &[desc(1, 1, 1)], DriverConfig::default());
        a.close();
        assert!(!a.is_running());
        assert!(!a.try_send(1, vec![]));
        assert!(matches!(a.closed().await, Ok(())));
        assert!(matches!(b.closed().await, Err(MConnError::ClosedByPeer)));
    }

    #[tokio::test(start_paused = true)]
    async fn flush_stop_delivers_everything_queued() {
        let rt = TokioRuntime::new();
        let (s1, s2) = streams(1 << 16);
        let chans = [desc(1, 1, 100)];
        let (a, _a_in) = start(&rt, s1, &chans, DriverConfig::default());
        let (b, mut b_in) = start(&rt, s2, &chans, DriverConfig::default());
        for i in 0..100u8 {
            assert!(a.try_send(1, vec![i; 10_000]));
        }
        let done = a.flush_stop();
        assert!(!a.try_send(1, vec![]));
        assert!(matches!(done.await, Ok(())));
        // 1,010,000 bytes at 5,120,000 B/s: two samples of 512,000 bytes.
        assert_eq!(rt.now(), Instant::from_epoch(Duration::from_millis(100)));
        for i in 0..100u8 {
            assert_eq!(b_in.next().await, Some((1, vec![i; 10_000])));
        }
        assert!(matches!(b.closed().await, Err(MConnError::ClosedByPeer)));
    }
}
