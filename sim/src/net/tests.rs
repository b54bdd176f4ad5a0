//! Tests of the simulated network's timing, flow control and faults.

use super::*;
use crate::exec::Sim;
use futures::{AsyncReadExt, AsyncWriteExt};
use p2p::net::Stream;
use std::net::Ipv4Addr;

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn ms(n: u64) -> Instant {
    Instant::from_epoch(Duration::from_millis(n))
}

fn two_zone_model() -> LatencyModel {
    LatencyModel::new(
        vec!["a".into(), "b".into()],
        vec![vec![0.0, 50.0], vec![50.0, 0.0]],
    )
    .unwrap()
    .with_jitter_fraction(0.0)
}

#[test]
fn connect_takes_one_rtt_and_bytes_one_delay() {
    let mut sim = Sim::new();
    let rt = sim.runtime();
    let world = World::new(rt.clone(), two_zone_model(), 1);
    let a = world.add_host(
        ip(1),
        HostConfig {
            zone: 0,
            ..Default::default()
        },
    );
    let b = world.add_host(
        ip(2),
        HostConfig {
            zone: 1,
            ..Default::default()
        },
    );
    let r = rt.clone();
    let got = sim.block_on(ms(10_000), async move {
        let mut l = b.listen(SocketAddr::new(ip(2), 26656)).await.unwrap();
        let mut c = a.dial(SocketAddr::new(ip(2), 26656)).await.unwrap();
        let t_connected = r.now();
        let mut s = l.accept().await.unwrap();
        assert_eq!(s.peer_addr(), c.local_addr());
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        let t_read = r.now();
        s.write_all(b"pong").await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        (t_connected, t_read, r.now(), buf)
    });
    assert_eq!(got, Some((ms(100), ms(150), ms(200), *b"pong")));
}

#[test]
fn bandwidth_serializes_and_window_throttles() {
    let mut sim = Sim::new();
    let rt = sim.runtime();
    let world = World::new(
        rt.clone(),
        LatencyModel::single("z", Duration::from_millis(10)),
        1,
    );
    let a = world.add_host(
        ip(1),
        HostConfig {
            uplink: Some(1_000_000),
            ..Default::default()
        },
    );
    let b = world.add_host(ip(2), HostConfig::default());
    let r = rt.clone();
    let elapsed = sim.block_on(ms(100_000), async move {
        let mut l = b.listen(SocketAddr::new(ip(2), 1)).await.unwrap();
        let mut c = a.dial(SocketAddr::new(ip(2), 1)).await.unwrap();
        let mut s = l.accept().await.unwrap();
        let t0 = r.now();
        let r2 = r.clone();
        r.spawn(async move {
            c.write_all(&vec![7u8; 2_000_000]).await.unwrap();
            c.close().await.unwrap();
            drop(r2);
        });
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 2_000_000);
        r.now() - t0
    });
    // 2 MB at 1 MB/s plus one 10 ms delay.
    let e = elapsed.unwrap();
    assert!(
        e >= Duration::from_millis(2010) && e < Duration::from_millis(2020),
        "{e:?}"
    );
}

#[test]
fn partition_stalls_then_heal_delivers_and_nat_hosts_cannot_be_dialed() {
    let mut sim = Sim::new();
    let rt = sim.runtime();
    let world = World::new(
        rt.clone(),
        LatencyModel::single("z", Duration::from_millis(5)),
        1,
    );
    let a = world.add_host(ip(1), HostConfig::default());
    let b = world.add_host(ip(2), HostConfig::default());
    let nat = world.add_host(
        ip(3),
        HostConfig {
            reachable: false,
            ..Default::default()
        },
    );
    world.set_group(ip(2), 1);
    let (r, w) = (rt.clone(), world.clone());
    let out = sim.block_on(ms(100_000), async move {
        let _l = nat.listen(SocketAddr::new(ip(3), 1)).await.unwrap();
        let nat_dial = p2p::net::timeout(
            &r,
            Duration::from_secs(1),
            a.dial(SocketAddr::new(ip(3), 1)),
        )
        .await;
        let mut l = b.listen(SocketAddr::new(ip(2), 1)).await.unwrap();
        let mut c = a.dial(SocketAddr::new(ip(2), 1)).await.unwrap();
        let mut s = l.accept().await.unwrap();
        w.block(0, 1);
        c.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 1];
        let stalled = p2p::net::timeout(&r, Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .is_err();
        w.heal();
        s.read_exact(&mut buf).await.unwrap();
        (nat_dial.is_err(), stalled, buf, r.now())
    });
    let (nat_timed_out, stalled, buf, t) = out.unwrap();
    assert!(nat_timed_out);
    assert!(stalled);
    assert_eq!(buf, *b"x");
    // 1 s NAT timeout + 10 ms connect + 5 s stall + 5 ms resend.
    assert_eq!(t, ms(1000 + 10 + 5000 + 5));
}

#[test]
fn crash_resets_peers_and_refuses_dials() {
    let mut sim = Sim::new();
    let rt = sim.runtime();
    let world = World::new(
        rt.clone(),
        LatencyModel::single("z", Duration::from_millis(5)),
        1,
    );
    let a = world.add_host(ip(1), HostConfig::default());
    let b = world.add_host(ip(2), HostConfig::default());
    let w = world.clone();
    let out = sim.block_on(ms(100_000), async move {
        let mut l = b.listen(SocketAddr::new(ip(2), 1)).await.unwrap();
        let mut c = a.dial(SocketAddr::new(ip(2), 1)).await.unwrap();
        let _s = l.accept().await.unwrap();
        w.crash(ip(2));
        let mut buf = [0u8; 1];
        let read = c.read(&mut buf).await.map_err(|e| e.kind());
        let redial = a
            .dial(SocketAddr::new(ip(2), 1))
            .await
            .map(|_| ())
            .map_err(|e| e.kind());
        (read, redial)
    });
    assert_eq!(
        out,
        Some((
            Err(io::ErrorKind::ConnectionReset),
            Err(io::ErrorKind::ConnectionRefused)
        ))
    );
}

#[test]
fn same_seed_same_hash_other_seed_other_hash() {
    let run = |seed| {
        let mut sim = Sim::new();
        let rt = sim.runtime();
        let world = World::new(rt.clone(), LatencyModel::aws(), seed);
        let a = world.add_host(
            ip(1),
            HostConfig {
                zone: 0,
                ..Default::default()
            },
        );
        let b = world.add_host(
            ip(2),
            HostConfig {
                zone: 8,
                ..Default::default()
            },
        );
        sim.block_on(ms(100_000), async move {
            let mut l = b.listen(SocketAddr::new(ip(2), 1)).await.unwrap();
            let mut c = a.dial(SocketAddr::new(ip(2), 1)).await.unwrap();
            let mut s = l.accept().await.unwrap();
            for i in 0..20u8 {
                c.write_all(&[i; 100]).await.unwrap();
            }
            let mut buf = vec![0u8; 2000];
            s.read_exact(&mut buf).await.unwrap();
        });
        (world.event_hash(), sim.now())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).0, run(2).0);
}
