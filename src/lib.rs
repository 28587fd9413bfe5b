//! swiftmount: an OpenStack Swift container as a FUSE filesystem.
//!
//! Layers, each depending only on the ones below: [`swift`] (auth and HTTP, no FUSE
//! types); the command line in [`cli`] and [`source`], which turn arguments into the
//! typed settings of the layers.

pub mod check;
pub mod cli;
pub mod clouds;
pub mod generate;
pub mod logging;
pub mod metrics;
pub mod source;
pub mod swift;

/// Prints an error as the one line a user sees and gives the failing exit code.
pub fn report(e: &dyn std::fmt::Display) -> std::process::ExitCode {
    eprintln!("swiftmount: {e}");
    std::process::ExitCode::FAILURE
}
pub mod fs;
pub mod fuse;
pub mod mount;
