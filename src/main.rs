use clap::Parser;
use swiftmount::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    swiftmount::logging::init(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return swiftmount::report(&e),
    };
    let result = match &cli.command {
        Command::Check(args) => {
            runtime.block_on(swiftmount::check::run(args, &mut std::io::stdout()))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => swiftmount::report(&e),
    }
}
