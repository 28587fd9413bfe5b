//! A userspace WAN shaping proxy for `scripts/bench.sh` (`BENCH_PROFILE=wan`, the `wan`
//! rows): a TCP forwarder that adds a round trip and caps each connection's rate, where
//! kernel netem is not available. Not part of the shipped binary.
//!
//!     cargo build --release --locked --example shaping_proxy
//!     target/release/examples/shaping_proxy --upstream 127.0.0.1:8080   # prints its address
//!
//! See shaper.rs for what is shaped and how.

mod shaper;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Forward TCP connections to UPSTREAM with added latency and a per-connection rate cap.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (port 0: any free port; the address is printed on stdout)
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to forward each connection
    #[arg(long)]
    upstream: SocketAddr,
    /// Delay added in each direction, in milliseconds (a round trip gets twice this)
    #[arg(long, default_value_t = 10)]
    delay_ms: u64,
    /// Cap of each direction of each connection, in MB/s (10^6 bytes)
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..))]
    rate_mb: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let shape = shaper::Shape {
        delay: Duration::from_millis(args.delay_ms),
        rate: args.rate_mb * 1_000_000,
    };
    // the one line a script waits for
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    log::info!("forwarding to {} with {shape:?}", args.upstream);
    shaper::serve(listener, args.upstream, shape).await;
    Ok(())
}
