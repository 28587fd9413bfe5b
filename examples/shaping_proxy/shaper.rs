//! The shaping itself: a plain TCP forwarder (it knows nothing of HTTP) that makes every
//! connection look like one TCP stream over a WAN.
//!
//! - **Latency**: every chunk is delivered `delay` after it left the sender's side, in each
//!   direction, so a request and its response take at least one round trip of `2 × delay`.
//!   The delay is pipelined: chunks wait in a queue with their due time, and the reader goes
//!   on reading meanwhile, so the proxy itself adds no window/RTT limit (stop-and-wait would
//!   cap a stream at chunk ÷ RTT). A new connection also pays one round trip (the TCP
//!   handshake) before its first byte goes upstream.
//! - **Rate**: each direction of each connection is paced at `rate` bytes per second by a
//!   token bucket [`BURST`] deep: the reader reads no further until the last chunk has
//!   "left" at that rate. The depth makes up for wake-ups that come late on a loaded
//!   machine (without it, every late timer would lower the rate) while holding any window
//!   of time to `rate × (window + BURST)`. The pacing also bounds the queue: at most
//!   `rate × (delay + BURST)` bytes (plus a chunk) wait in it, whatever the sender does.
//!
//! Parallel connections are shaped independently, as a path across the internet limits
//! each TCP stream rather than the sum; a client that opens more connections gets more.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

/// Bytes read at once. 64 KiB leaves a direction at 25 MB/s in 2.6 ms: fine-grained
/// enough for the pacing, few enough wake-ups for hundreds of MB/s in all.
const CHUNK: usize = 64 * 1024;

/// Depth of the token bucket, as time at the capped rate (50 ms: 1.25 MB at 25 MB/s).
pub const BURST: Duration = Duration::from_millis(50);

/// How each direction of each connection is shaped.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Added to every byte's trip, in each direction (a round trip is twice this).
    pub delay: Duration,
    /// Bytes per second, per direction and per connection.
    pub rate: u64,
}

/// Accepts connections on `listener` and forwards each one to `upstream`, shaped; runs
/// until the task is dropped.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, shape: Shape) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(async move {
                    if let Err(e) = forward(client, upstream, shape).await {
                        log::debug!("connection from {peer} to {upstream} ended: {e}");
                    }
                });
            }
            Err(e) => {
                // e.g. out of file descriptors: back off instead of spinning
                log::warn!("accept failed: {e}");
                sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, shape: Shape) -> io::Result<()> {
    let accepted = Instant::now();
    client.set_nodelay(true)?;
    // the handshake's round trip: SYN out, SYN-ACK back, only then the first bytes go
    sleep_until(accepted + 2 * shape.delay).await;
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::try_join!(
        pipe(client_read, server_write, shape),
        pipe(server_read, client_write, shape)
    )?;
    Ok(())
}

/// One direction: paced reads into a queue of (due time, bytes), written out when due. An
/// end of stream is passed on (shutdown of the write side) after the queue has drained.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shape: Shape) -> io::Result<()> {
    // pacing bounds the bytes queued to rate × delay; the bound here in chunks only keeps
    // a stream of tiny reads from queueing without limit
    let in_flight = shape.rate as f64 * shape.delay.as_secs_f64() / CHUNK as f64;
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(1024usize.max(2 * in_flight as usize));
    let reader = async move {
        let mut pacer = Pacer::new(shape.rate);
        // small reads share one allocation instead of holding a chunk each while queued
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            buf.reserve(CHUNK);
            let n = from.read_buf(&mut buf).await?;
            if n == 0 {
                return Ok::<_, io::Error>(()); // dropping tx ends the writer after the queue
            }
            let arrived = Instant::now();
            let chunk = buf.split().freeze();
            let left = pacer.send(n);
            sleep_until(left).await;
            // saved-up credit lets bytes leave "in the past", but none arrives before the delay
            if tx
                .send((left.max(arrived) + shape.delay, chunk))
                .await
                .is_err()
            {
                return Ok(()); // the writer failed; its error is the one reported
            }
        }
    };
    let writer = async move {
        while let Some((due, buf)) = rx.recv().await {
            sleep_until(due).await;
            to.write_all(&buf).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(reader, writer)?;
    Ok(())
}

/// The token bucket as a virtual clock: when the link is free again; a clock behind `now`
/// is saved-up credit, at most [`BURST`] of it.
struct Pacer {
    rate: f64,
    free_at: Instant,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate as f64,
            free_at: Instant::now(),
        }
    }

    /// When `n` bytes handed over now have left at the capped rate.
    fn send(&mut self, n: usize) -> Instant {
        let now = Instant::now();
        let start = self.free_at.max(now.checked_sub(BURST).unwrap_or(now));
        self.free_at = start + Duration::from_secs_f64(n as f64 / self.rate);
        self.free_at
    }
}
