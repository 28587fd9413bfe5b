//! Files as a test writes and reads them, on a mount or on a local disk: reproducible
//! random content, `close(2)` with its result (dropping a `File` hides it), a
//! folder's sorted names, and reads kept off the runtime's threads.

#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};

/// `len` reproducible random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

/// `close(2)` itself, so that an error it returns is seen: dropping a `File` ignores
/// it, and on a mount that is where a failed upload is reported.
pub fn close_checked(f: File) -> io::Result<()> {
    let fd = f.into_raw_fd();
    // SAFETY: `fd` was just taken out of a File, so it is open, owned by nobody else,
    // and closed once.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Creates (or truncates) `path`, writes `data` and closes it, reporting what close()
/// returned, which `std::fs::write` does not.
pub fn write_and_close(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    close_checked(f)
}

/// Sorted names in a folder (what `ls` shows).
pub fn ls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Reads a whole file on a blocking thread: when the mount talks to a proxy that runs
/// on this test's runtime, a read on the runtime's own threads could starve it.
pub async fn read_blocking(path: impl Into<PathBuf>) -> io::Result<Vec<u8>> {
    let path = path.into();
    tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .unwrap()
}
