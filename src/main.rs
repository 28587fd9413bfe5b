use swiftmount::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_args();
    let log_file = match &cli.command {
        None => cli.mount.options.log_file.as_deref(),
        Some(_) => None,
    };
    if let Err(e) = swiftmount::logging::init(cli.verbose, log_file) {
        return swiftmount::report(&e);
    }
    match &cli.command {
        Some(Command::Check(args)) => {
            let result = tokio::runtime::Runtime::new()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(swiftmount::check::run(args, &mut std::io::stdout()))
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => swiftmount::report(&e),
            }
        }
        Some(Command::Generate { dir }) => match swiftmount::generate::run(dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => swiftmount::report(&format!("writing to {}: {e}", dir.display())),
        },
        None => match swiftmount::mount::run(&cli.mount) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) if e.already_reported() => std::process::ExitCode::FAILURE,
            Err(e) => swiftmount::report(&e),
        },
    }
}
