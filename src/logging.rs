//! Log set-up: stderr, `warn` by default, louder with `-v`, `RUST_LOG` wins.

pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "swiftmount=info,warn",
        2 => "swiftmount=debug,info",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp_millis()
        .init();
}
