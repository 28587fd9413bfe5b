//! Log set-up: stderr (or a file), `warn` by default, louder with `-v`, `RUST_LOG` wins.

use std::path::Path;

pub fn init(verbose: u8, file: Option<&Path>) -> std::io::Result<()> {
    // fuser warns that unmounting failed when fusermount3 -u got there first: noise.
    // The platform verifier logs every refused certificate as an error; our own
    // error line already says it, with what to do.
    let default = match verbose {
        0 => "warn,fuser::session=error,rustls_platform_verifier=off",
        1 => "swiftmount=info,warn,fuser::session=error,rustls_platform_verifier=off",
        2 => "swiftmount=debug,info",
        _ => "trace",
    };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    builder.format_timestamp_millis();
    if let Some(path) = file {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        builder.target(env_logger::Target::Pipe(Box::new(f)));
    }
    builder.init();
    Ok(())
}
