//! MConnection throughput: messages per second through two drivers joined by
//! an in-memory pipe, rate limits off, on one tokio current-thread runtime.
//!
//! `flush0` flushes after every batch (throughput of the machinery itself);
//! `flush100` uses v0.38's 100 ms flush throttle, where only the 64 KiB write
//! buffer filling up pushes bytes out.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use p2p::mconn::{spawn, ChannelDescriptor, DriverConfig, Inbound, MConnConfig, MConnHandle};
use p2p::net::memory::{MemoryStream, DEFAULT_PIPE_CAPACITY};
use p2p::net::tcp::TokioRuntime;

struct Pair {
    a: MConnHandle,
    b_in: Inbound,
    _a_in: Inbound,
    _b: MConnHandle,
}

fn pair(rt: &tokio::runtime::Runtime, flush: Duration) -> Pair {
    rt.block_on(async {
        let net = TokioRuntime::new();
        let (s1, s2) = MemoryStream::pair(
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            DEFAULT_PIPE_CAPACITY,
        );
        let cfg = MConnConfig {
            send_rate: 0,
            recv_rate: 0,
            flush_throttle: flush,
            ..MConnConfig::default()
        };
        let chans = [ChannelDescriptor {
            send_queue_capacity: 100,
            ..ChannelDescriptor::new(1, 1)
        }];
        let (a, a_in) = spawn(&net, s1, cfg.clone(), &chans, DriverConfig::default()).unwrap();
        let (b, b_in) = spawn(&net, s2, cfg, &chans, DriverConfig::default()).unwrap();
        Pair {
            a,
            b_in,
            _a_in: a_in,
            _b: b,
        }
    })
}

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("mconn");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (size, count) in [(1024usize, 20_000usize), (64 * 1024, 500)] {
        for (name, flush) in [
            ("flush0", Duration::ZERO),
            ("flush100", Duration::from_millis(100)),
        ] {
            let mut p = pair(&rt, flush);
            let msg = vec![0x5a; size];
            g.throughput(Throughput::Elements(count as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &size, |bch, _| {
                bch.iter(|| {
                    rt.block_on(async {
                        let send = async {
                            for _ in 0..count {
                                assert!(p.a.send(1, msg.clone()).await);
                            }
                        };
                        let recv = async {
                            for _ in 0..count {
                                let (_, m) = p.b_in.next().await.unwrap();
                                assert_eq!(m.len(), size);
                            }
                        };
                        futures::join!(send, recv);
                    })
                })
            });
            p.a.close();
        }
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
