//! Generated source trees for backup tests: a deterministic mix of sizes (0 bytes to
//! a multi-segment file), nested folders and names with spaces and unicode; a
//! deterministic change set (modify, append, truncate, delete, add); and a
//! byte-for-byte comparison of two trees.

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size of the one large file: over 8 MiB (streamed) and over two 8 MiB segments.
pub const BIG: usize = (20 << 20) + 12_345;
/// The large file's path in the tree.
pub const BIG_NAME: &str = "big files/grand fichier é.bin";

const DIRS: &[&str] = &[
    "",
    "docs",
    "docs/a b",
    "docs/a b/c d e",
    "photos/2024/été",
    "photos/2024/été/Ünïcödé & spaces",
    "src/deep/er/still deeper/deepest",
    "数据",
    "big files",
];

/// Random bytes (incompressible) or text (compressible, deduplicable) of `len`.
fn content(rng: &mut rand::rngs::StdRng, len: usize) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let mut v = vec![0u8; len];
        rng.fill(&mut v[..]);
        v
    } else {
        let line = format!("line of text {} ünïcödé\n", rng.random::<u32>());
        line.as_bytes().iter().copied().cycle().take(len).collect()
    }
}

fn size_for(i: usize, rng: &mut rand::rngs::StdRng) -> usize {
    match i % 10 {
        0 => 0,
        1..=6 => rng.random_range(1..4096),
        7 | 8 => rng.random_range(4096..65_536),
        _ => rng.random_range(65_536..200_000),
    }
}

fn name_for(i: usize) -> String {
    match i % 5 {
        0 => format!("file {i}.txt"),
        1 => format!("ñame-{i}.bin"),
        2 => format!("x{i}"),
        3 => format!("с пробелом {i} (копия).dat"),
        _ => format!(".hidden-{i}"),
    }
}

/// A whole-second-plus-nanoseconds time, deterministic in `i`.
pub fn mtime_for(i: u64) -> SystemTime {
    UNIX_EPOCH
        + Duration::new(
            1_600_000_000 + i * 3_607,
            ((i * 7_919_777) % 1_000_000_000) as u32,
        )
}

pub fn set_mtime(path: &Path, t: SystemTime) {
    let f = File::options().write(true).open(path).unwrap();
    f.set_times(FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
}

fn write(root: &Path, rel: &str, data: &[u8], mtime: SystemTime) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    set_mtime(&p, mtime);
}

/// Writes the tree (`files` small files, one empty folder and the large file) into
/// `root`, which must exist. Same `seed`, same tree, times included.
pub fn generate(root: &Path, files: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for d in DIRS {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::create_dir_all(root.join("empty folder")).unwrap();
    for i in 0..files {
        let dir = DIRS[i % DIRS.len()];
        let rel = if dir.is_empty() {
            name_for(i)
        } else {
            format!("{dir}/{}", name_for(i))
        };
        let len = size_for(i, &mut rng);
        let data = content(&mut rng, len);
        write(root, &rel, &data, mtime_for(i as u64));
    }
    let data = content(&mut rng, BIG);
    write(root, BIG_NAME, &data, mtime_for(10_000));
}

/// What `mutate` did, for messages.
#[derive(Debug, Default)]
pub struct Changes {
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
    pub added: Vec<String>,
}

/// Changes the tree made by `generate`: rewrites some files (some at the same size),
/// appends to one, truncates one to 0 bytes, changes 4 KiB in the middle of the large
/// file, deletes files and a whole folder, adds files and a folder.
pub fn mutate(root: &Path, seed: u64) -> Changes {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut ch = Changes::default();
    let mut files: Vec<String> = walk(root)
        .into_iter()
        .filter(|(_, e)| !e.is_dir && e.size > 0 && !e.rel.starts_with("big files"))
        .map(|(k, _)| k)
        .collect();
    files.sort();
    let t = |i: u64| mtime_for(20_000 + i);
    // same size, new bytes, new time
    for (n, rel) in files.iter().step_by(17).take(8).enumerate() {
        let p = root.join(rel);
        let len = fs::metadata(&p).unwrap().len() as usize;
        let data = content(&mut rng, len);
        write(root, rel, &data, t(n as u64));
        ch.modified.push(rel.clone());
    }
    // other size
    for (n, rel) in files.iter().skip(5).step_by(23).take(5).enumerate() {
        if ch.modified.contains(rel) {
            continue;
        }
        let len = rng.random_range(1..70_000);
        let data = content(&mut rng, len);
        write(root, rel, &data, t(100 + n as u64));
        ch.modified.push(rel.clone());
    }
    // append, truncate to empty
    let app = files
        .iter()
        .rev()
        .find(|r| !ch.modified.contains(r))
        .unwrap()
        .clone();
    let mut data = fs::read(root.join(&app)).unwrap();
    data.extend_from_slice(b"appended\n");
    write(root, &app, &data, t(200));
    ch.modified.push(app);
    let trunc = files
        .iter()
        .rev()
        .find(|r| !ch.modified.contains(r))
        .unwrap()
        .clone();
    write(root, &trunc, b"", t(201));
    ch.modified.push(trunc);
    // the large file: same size, 4 KiB changed in the middle
    let mut big = fs::read(root.join(BIG_NAME)).unwrap();
    let mid = big.len() / 2;
    rng.fill(&mut big[mid..mid + 4096]);
    write(root, BIG_NAME, &big, t(300));
    ch.modified.push(BIG_NAME.into());
    // delete some files and a whole folder
    for rel in files.iter().skip(3).step_by(29).take(8) {
        if ch.modified.contains(rel) {
            continue;
        }
        fs::remove_file(root.join(rel)).unwrap();
        ch.deleted.push(rel.clone());
    }
    let gone = "src/deep/er/still deeper/deepest";
    fs::remove_dir_all(root.join(gone)).unwrap();
    ch.deleted.push(format!("{gone}/"));
    // add files, one in a new folder
    for i in 0..8 {
        let rel = match i {
            0 => "new folder ✓/nouveau fichier.txt".to_string(),
            1 => "new folder ✓/empty new".to_string(),
            _ => format!("docs/added {i} ü.bin"),
        };
        let len = if i == 1 {
            0
        } else {
            rng.random_range(1..100_000)
        };
        let data = content(&mut rng, len);
        write(root, &rel, &data, t(400 + i));
        ch.added.push(rel);
    }
    ch
}

/// One entry of a walked tree.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rel: String,
    pub is_dir: bool,
    pub size: u64,
    pub mtime: SystemTime,
}

/// Every file and folder below `root` (not `root` itself), by relative path.
/// Panics on anything else (symlinks, devices …).
pub fn walk(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        for e in fs::read_dir(root.join(&rel_dir)).unwrap() {
            let e = e.unwrap();
            let rel = rel_dir.join(e.file_name());
            let md = fs::symlink_metadata(e.path()).unwrap();
            let rel_s = rel.to_str().unwrap().to_string();
            assert!(
                md.is_dir() || md.is_file(),
                "{} is neither file nor folder",
                e.path().display()
            );
            if md.is_dir() {
                stack.push(rel.clone());
            }
            out.insert(
                rel_s.clone(),
                Entry {
                    rel: rel_s,
                    is_dir: md.is_dir(),
                    size: if md.is_dir() { 0 } else { md.len() },
                    mtime: md.modified().unwrap(),
                },
            );
        }
    }
    out
}

fn same_bytes(a: &Path, b: &Path) -> Result<(), String> {
    let mut fa = File::open(a).map_err(|e| format!("open {}: {e}", a.display()))?;
    let mut fb = File::open(b).map_err(|e| format!("open {}: {e}", b.display()))?;
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut off = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| format!("read {}: {e}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| format!("read {}: {e}", b.display()))?;
        if ba[..na] != bb[..nb] {
            let at = ba[..na.min(nb)]
                .iter()
                .zip(&bb[..na.min(nb)])
                .position(|(x, y)| x != y)
                .unwrap_or(na.min(nb));
            return Err(format!("bytes differ at offset {}", off + at as u64));
        }
        if na == 0 {
            return Ok(());
        }
        off += na as u64;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// How file modification times must match.
#[derive(Debug, Clone, Copy)]
pub enum Mtimes {
    /// Not compared.
    Ignore,
    /// To the nanosecond.
    Exact,
    /// Less than this apart (a tool that keeps whole seconds: 1 s).
    Within(Duration),
}

impl Mtimes {
    fn matches(self, want: SystemTime, got: SystemTime) -> bool {
        let apart = want
            .duration_since(got)
            .or_else(|_| got.duration_since(want))
            .unwrap();
        match self {
            Mtimes::Ignore => true,
            Mtimes::Exact => apart.is_zero(),
            Mtimes::Within(d) => apart < d,
        }
    }
}

/// Compares `got` with `want`: the same names, kinds, sizes and bytes, and the file
/// modification times as `mtimes` says. Returns every difference found.
pub fn compare(want: &Path, got: &Path, mtimes: Mtimes) -> Result<(), String> {
    let w = walk(want);
    let g = walk(got);
    let mut diffs = Vec::new();
    for (rel, we) in &w {
        let Some(ge) = g.get(rel) else {
            diffs.push(format!("missing: {rel}"));
            continue;
        };
        if we.is_dir != ge.is_dir {
            diffs.push(format!("{rel}: folder {} vs {}", we.is_dir, ge.is_dir));
            continue;
        }
        if we.is_dir {
            continue;
        }
        if we.size != ge.size {
            diffs.push(format!(
                "{rel}: size {} expected, {} found",
                we.size, ge.size
            ));
            continue;
        }
        if let Err(e) = same_bytes(&want.join(rel), &got.join(rel)) {
            diffs.push(format!("{rel}: {e}"));
        }
        if !mtimes.matches(we.mtime, ge.mtime) {
            diffs.push(format!(
                "{rel}: mtime {:?} expected, {:?} found",
                we.mtime.duration_since(UNIX_EPOCH).unwrap(),
                ge.mtime.duration_since(UNIX_EPOCH).unwrap()
            ));
        }
    }
    for rel in g.keys() {
        if !w.contains_key(rel) {
            diffs.push(format!("unexpected: {rel}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} differences between {} (expected) and {} (found):\n  {}",
            diffs.len(),
            want.display(),
            got.display(),
            diffs.join("\n  ")
        ))
    }
}

/// Number of files and total bytes below `root`.
pub fn stats(root: &Path) -> (usize, u64) {
    let w = walk(root);
    let files = w.values().filter(|e| !e.is_dir);
    (files.clone().count(), files.map(|e| e.size).sum())
}
