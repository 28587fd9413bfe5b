//! The WAN shaping proxy of scripts/bench.sh (examples/shaping_proxy): its added round trip
//! and its per-connection cap are what the WAN rows rest on, so both are measured here,
//! against local echo/sink servers (no Swift needed). Tolerances are wide for a loaded
//! 2-core machine: the lower bounds are exact (the shaper never delivers early), the upper
//! ones generous.

#[path = "../examples/shaping_proxy/shaper.rs"]
mod shaper;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DELAY: Duration = Duration::from_millis(10);
const RATE: u64 = 25_000_000;

/// A proxy with the bench's delay and a cap of `rate` bytes/s, in front of `upstream`.
async fn proxy_at(upstream: SocketAddr, rate: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shape = shaper::Shape { delay: DELAY, rate };
    tokio::spawn(shaper::serve(listener, upstream, shape));
    addr
}

/// A proxy shaped as the bench's WAN profile (25 MB/s), in front of `upstream`.
async fn proxy(upstream: SocketAddr) -> SocketAddr {
    proxy_at(upstream, RATE).await
}

/// Serves each connection with `f` on its own task.
async fn server<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(f(s));
        }
    });
    addr
}

/// Answers every byte with the same byte.
async fn echo(mut s: TcpStream) {
    let mut b = [0u8; 1];
    while s.read_exact(&mut b).await.is_ok() {
        if s.write_all(&b).await.is_err() {
            return;
        }
    }
}

/// Reads to the end of the stream, then answers with the byte count (8 bytes, LE).
async fn sink(mut s: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(_) => return,
        }
    }
    let _ = s.write_all(&n.to_le_bytes()).await;
}

/// Reads an 8-byte count, then sends that many bytes and closes.
async fn source(mut s: TcpStream) {
    let mut n = [0u8; 8];
    if s.read_exact(&mut n).await.is_err() {
        return;
    }
    let chunk = vec![7u8; 1 << 16];
    let mut left = u64::from_le_bytes(n);
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        if s.write_all(&chunk[..k]).await.is_err() {
            return;
        }
        left -= k as u64;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_takes_twice_the_delay_and_a_new_connection_one_more() {
    let p = proxy(server(echo).await).await;
    let t = Instant::now();
    let mut c = TcpStream::connect(p).await.unwrap();
    c.set_nodelay(true).unwrap();
    let mut b = [1u8];
    c.write_all(&b).await.unwrap();
    c.read_exact(&mut b).await.unwrap();
    let first = t.elapsed();
    let mut rtts = Vec::new();
    for i in 0..10u8 {
        let t = Instant::now();
        c.write_all(&[i]).await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(b[0], i, "echoed byte");
        rtts.push(t.elapsed());
    }
    let (min, med) = (*rtts.iter().min().unwrap(), median(rtts.clone()));
    println!(
        "first exchange {first:?} (handshake + round trip); round trips: min {min:?}, median {med:?}"
    );
    assert!(
        first >= 4 * DELAY,
        "a new connection's first exchange took {first:?}: under handshake + round trip (40 ms)"
    );
    assert!(min >= 2 * DELAY, "a round trip took {min:?}: under 20 ms");
    assert!(
        med < Duration::from_millis(250),
        "round trips' median {med:?}: the delay is far over 20 ms"
    );
}

/// MB/s of `bytes` in `d`.
fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// Sends `bytes` up through the proxy to a sink, with end of stream -> MB/s, as the time
/// from the first byte sent to the sink's answer (which also proves the EOF got through).
async fn upload(p: SocketAddr, bytes: u64) -> f64 {
    let mut c = TcpStream::connect(p).await.unwrap();
    let chunk = vec![3u8; 1 << 16];
    let t = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        c.write_all(&chunk[..k]).await.unwrap();
        left -= k as u64;
    }
    c.shutdown().await.unwrap();
    let mut n = [0u8; 8];
    c.read_exact(&mut n).await.unwrap();
    assert_eq!(u64::from_le_bytes(n), bytes, "bytes that reached the sink");
    mbps(bytes, t.elapsed())
}

/// Asks a source for `bytes` through the proxy -> MB/s of the download, to its end.
async fn download(p: SocketAddr, bytes: u64) -> f64 {
    let mut c = TcpStream::connect(p).await.unwrap();
    let t = Instant::now();
    c.write_all(&bytes.to_le_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        match c.read(&mut buf).await.unwrap() {
            0 => break,
            k => got += k as u64,
        }
    }
    assert_eq!(got, bytes, "bytes that came down");
    mbps(bytes, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_is_capped_near_the_rate_each_way() {
    let bytes = 40_000_000; // 1.6 s at 25 MB/s
    let up = upload(proxy(server(sink).await).await, bytes).await;
    let down = download(proxy(server(source).await).await, bytes).await;
    println!("one connection: up {up:.1} MB/s, down {down:.1} MB/s (cap 25)");
    for (what, r) in [("up", up), ("down", down)] {
        assert!(
            r <= 26.5,
            "{what}: {r:.1} MB/s, over the 25 MB/s cap (+ a 50 ms burst)"
        );
        assert!(
            r >= 12.5,
            "{what}: {r:.1} MB/s, not even half the 25 MB/s cap"
        );
    }
}

/// At 5 MB/s a connection, so that the machine's load, not the shaper, cannot be what
/// limits the sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_is_per_connection() {
    let p = proxy_at(server(sink).await, 5_000_000).await;
    let bytes = 6_000_000; // 1.2 s each at 5 MB/s
    let t = Instant::now();
    let each = futures::future::join_all((0..4).map(|_| upload(p, bytes))).await;
    let total = mbps(4 * bytes, t.elapsed());
    println!("4 connections: {each:.1?} MB/s each, {total:.1} MB/s together (cap 5 each)");
    assert!(
        each.iter().all(|&r| r <= 5.0 * 1.1),
        "a connection went over the cap: {each:.1?}"
    );
    assert!(
        total >= 1.5 * 5.0,
        "4 connections together moved {total:.1} MB/s: the cap looks shared, not per connection"
    );
}
