//! Puts the commit the binary is built from into `--version` (SWIFTMOUNT_COMMIT):
//! `git rev-parse --short HEAD` when this source tree is a git checkout, "unknown"
//! from a tarball or without git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // A tarball unpacked inside some other repository must not take that one's commit.
    let own_checkout = git(&dir, &["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == dir.canonicalize().ok());
    let commit = own_checkout
        .then(|| git(&dir, &["rev-parse", "--short", "HEAD"]))
        .flatten();
    if commit.is_some() {
        // HEAD moves to another branch, or the branch it names gets a commit; in a
        // worktree both live outside ./.git, so git says where.
        let mut watched = vec!["HEAD".to_string()];
        watched.extend(git(&dir, &["symbolic-ref", "-q", "HEAD"]));
        for name in watched {
            if let Some(path) = git(
                &dir,
                &["rev-parse", "--path-format=absolute", "--git-path", &name],
            ) {
                if Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
    println!(
        "cargo:rustc-env=SWIFTMOUNT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
