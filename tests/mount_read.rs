//! The read-only mount as a user sees it: the real `swiftmount` binary mounted over
//! the local Swift, checked with plain file-system calls, fixtures made and results
//! checked through the Swift API.

mod common;

use bytes::Bytes;
use common::files::{ls, random_bytes};
use common::lab::{self, TestContainer, obj};
use common::mount::{
    self, Cleanup, Mount, Outcome, is_mount_point, mountinfo_count, processes_mentioning,
    tempauth_env, v3_env,
};
use common::objects::{listed_names, make_slo};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use swiftmount::swift::{ListEntry, ListQuery, ObjectStore};

type Headers = Vec<(&'static str, String)>;

/// xorshift64*: offsets and lengths for random reads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `put_object` with an empty body sends no `Content-Length` and Swift answers 411
/// (reported to the lead); zero-byte fixtures say it themselves.
fn empty_body() -> (&'static str, String) {
    ("content-length", "0".into())
}

/// PUTs all the objects, a few at a time.
async fn put_all(t: &TestContainer, objects: Vec<(String, Vec<u8>, Headers)>) {
    futures::stream::iter(objects)
        .map(|(name, data, mut headers)| {
            if data.is_empty() {
                headers.push(empty_body());
            }
            let client = t.client.clone();
            let c = t.name.clone();
            async move {
                client
                    .put_raw(&c, &obj(&name), Bytes::from(data), &headers)
                    .await
                    .unwrap_or_else(|e| panic!("PUT {name}: {e}"));
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

fn plain(name: &str, data: &[u8]) -> (String, Vec<u8>, Headers) {
    (name.to_string(), data.to_vec(), vec![])
}

fn dir_object(name: &str) -> (String, Vec<u8>, Headers) {
    (
        name.to_string(),
        vec![],
        vec![("content-type", "application/directory".into())],
    )
}

/// `ls -a1` of the real tool: "." and ".." must appear once each, and nothing else
/// that std's read_dir would hide.
fn ls_a(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("ls")
        .arg("-a1")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ls -a {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn read_all(path: &Path) -> Vec<u8> {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// pread until `len` bytes or end of file.
fn pread(f: &File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = f
            .read_at(&mut buf[got..], offset + got as u64)
            .unwrap_or_else(|e| panic!("pread {len} at {offset}: {e}"));
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    buf
}

/// Why `got` is not `want`, if it is not.
fn differs(what: &str, got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    Some(format!(
        "{what}: {} bytes read, {} expected; first difference at byte {first}",
        got.len(),
        want.len()
    ))
}

fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if let Some(why) = differs(what, got, want) {
        panic!("{why}");
    }
}

fn secs(t: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(t)
}

fn assert_time_near(what: &str, got: SystemTime, want: SystemTime, slack: Duration) {
    let diff = match got.duration_since(want) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        diff <= slack,
        "{what}: mtime {got:?}, expected {want:?} (±{slack:?})"
    );
}

fn source(t: &TestContainer, prefix: &str) -> String {
    if prefix.is_empty() {
        t.name.to_string()
    } else {
        format!("{}/{prefix}", t.name)
    }
}

/// The failure contract: non-zero exit, exactly one line on stderr that names the
/// problem (one of `what`, case-insensitive).
fn fails_with(o: &Outcome, what: &[&str]) -> String {
    assert!(
        !o.status.success(),
        "should fail; stdout: {} stderr: {}",
        o.stdout,
        o.stderr
    );
    assert_eq!(
        o.stderr.lines().count(),
        1,
        "one stderr line expected, got:\n{}",
        o.stderr
    );
    let line = o.stderr.trim_end().to_string();
    let lower = line.to_lowercase();
    assert!(
        what.iter().any(|w| lower.contains(&w.to_lowercase())),
        "expected one of {what:?} in: {line}"
    );
    line
}

fn mount_args<'a>(foreground: bool, source: &'a str, mp: &'a Path) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = Vec::new();
    if foreground {
        args.push(OsStr::new("--foreground"));
    }
    args.push(OsStr::new(source));
    args.push(mp.as_os_str());
    args
}

const RUN_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn prefix_is_the_root_and_folder_kinds_merge() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mprefix").await;
    put_all(
        &t,
        vec![
            plain("outside.txt", b"out"),
            plain("pretty/z", b"not under pre/"),
            plain("pre", b"an object named like the prefix"),
            plain("pre/", b""), // the root's own marker: no entry with an empty name
            plain("pre/a.txt", b"AAA"),
            plain("pre/dir/", b""),
            plain("pre/dir/b.txt", b"bee"),
            plain("pre/marker/", b""),
            dir_object("pre/ctdir"),
            plain("pre/ctdir/inner.txt", b"inner"),
            dir_object("pre/ctempty"),
            plain("pre/implicit/deep/c.txt", b"sea"),
        ],
    )
    .await;
    let root_want = strings(&["a.txt", "ctdir", "ctempty", "dir", "implicit", "marker"]);
    for prefix in ["pre", "pre/"] {
        let m = Mount::new(&source(&t, prefix), &[]);
        let what = format!("prefix {prefix:?}");
        assert_eq!(ls(&m.path), root_want, "{what}");
        assert_eq!(
            ls_a(&m.path)
                .iter()
                .filter(|n| *n == "." || *n == "..")
                .count(),
            2,
            "{what}: . and .. once each: {:?}",
            ls_a(&m.path)
        );
        for d in [
            "ctdir",
            "ctempty",
            "dir",
            "implicit",
            "marker",
            "implicit/deep",
        ] {
            assert!(fs::metadata(m.join(d)).unwrap().is_dir(), "{what}: {d}");
        }
        assert!(fs::metadata(m.join("a.txt")).unwrap().is_file(), "{what}");
        assert_eq!(ls(&m.join("dir")), ["b.txt"], "{what}: marker + contents");
        assert_eq!(ls(&m.join("marker")), Vec::<String>::new(), "{what}");
        assert_eq!(ls(&m.join("ctdir")), ["inner.txt"], "{what}");
        assert_eq!(ls(&m.join("ctempty")), Vec::<String>::new(), "{what}");
        assert_eq!(ls(&m.join("implicit")), ["deep"], "{what}");
        assert_eq!(ls(&m.join("implicit/deep")), ["c.txt"], "{what}");
        assert_eq!(fs::read(m.join("a.txt")).unwrap(), b"AAA", "{what}");
        assert_eq!(fs::read(m.join("dir/b.txt")).unwrap(), b"bee", "{what}");
        assert_eq!(fs::read(m.join("ctdir/inner.txt")).unwrap(), b"inner");
        for outside in ["outside.txt", "pretty", "z", "pre"] {
            let e = fs::metadata(m.join(outside)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {outside}");
        }
    }
    // the whole container: "pre" is both an object and a folder, the folder wins
    {
        let m = Mount::new(&source(&t, ""), &[]);
        assert_eq!(ls(&m.path), strings(&["outside.txt", "pre", "pretty"]));
        assert!(fs::metadata(m.join("pre")).unwrap().is_dir());
        assert_eq!(ls(&m.join("pre")), root_want);
        assert_eq!(fs::read(m.join("pretty/z")).unwrap(), b"not under pre/");
    }
    // a deeper prefix of an implicit folder
    {
        let m = Mount::new(&source(&t, "pre/implicit"), &[]);
        assert_eq!(ls(&m.path), ["deep"]);
        assert_eq!(fs::read(m.join("deep/c.txt")).unwrap(), b"sea");
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_names_are_hidden_without_hiding_siblings() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mhidden").await;
    let long256 = "x".repeat(256);
    let ok255 = "v".repeat(255);
    let a_long256 = format!("a/{}", "y".repeat(256));
    let a_ok255 = format!("a/{}", "w".repeat(255));
    put_all(
        &t,
        vec![
            plain("/lead", b"empty first segment"),
            plain("a//b", b"empty middle segment"),
            plain("a/ok", b"fine"),
            plain("a/./dot", b"dot segment"),
            plain("a/../up", b"dotdot segment"),
            plain("./x", b"dot at root"),
            plain("../y", b"dotdot at root"),
            plain(&a_long256, b"too long"),
            plain(&a_ok255, b"just fits"),
            plain(&long256, b"too long"),
            plain(&ok255, b"just fits"),
            plain("both", b"object and folder"),
            plain("both/inside", b"in"),
            plain("zz_normal", b"normal"),
        ],
    )
    .await;
    let m = Mount::new(&source(&t, ""), &[]);
    assert_eq!(
        ls(&m.path),
        strings(&["a", "both", &ok255, "zz_normal"]),
        "root"
    );
    let dots = |dir: &Path| -> (usize, usize) {
        let all = ls_a(dir);
        (
            all.iter().filter(|n| *n == ".").count(),
            all.iter().filter(|n| *n == "..").count(),
        )
    };
    assert_eq!(dots(&m.path), (1, 1), "root: {:?}", ls_a(&m.path));
    assert_eq!(ls(&m.join("a")), strings(&["ok", &"w".repeat(255)]), "a/");
    assert_eq!(dots(&m.join("a")), (1, 1), "a/: {:?}", ls_a(&m.join("a")));
    assert!(fs::metadata(m.join("both")).unwrap().is_dir());
    assert_eq!(ls(&m.join("both")), ["inside"]);
    assert_eq!(fs::read(m.join("both/inside")).unwrap(), b"in");
    assert_eq!(fs::read(m.join(&ok255)).unwrap(), b"just fits");
    assert_eq!(fs::read(m.join(&a_ok255)).unwrap(), b"just fits");
    assert_eq!(fs::read(m.join("a/ok")).unwrap(), b"fine");
    assert_eq!(fs::read(m.join("zz_normal")).unwrap(), b"normal");
    // the hidden names cannot be reached by name either
    for hidden in ["a/b", "dot", "up", "x", "y", "lead", "b"] {
        assert!(fs::metadata(m.join(hidden)).is_err(), "{hidden} visible");
    }
    // still alive
    assert_eq!(ls(&m.path).len(), 4);
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attributes_sizes_modes_owner_and_mtime() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mattr").await;
    let mtime = |v: &str| vec![("x-object-meta-mtime", v.to_string())];
    put_all(
        &t,
        vec![
            plain("plain", &random_bytes(1234, 1)),
            (
                "rclone".into(),
                b"0123456789".to_vec(),
                mtime("1600000000.250000000"),
            ),
            ("listed".into(), b"abc".to_vec(), mtime("1400000000.125")),
            plain("d/f", b"x"),
        ],
    )
    .await;
    let listing: Vec<_> = t
        .client
        .list_all(&t.name, &ListQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            ListEntry::Object(o) => Some(o),
            _ => None,
        })
        .collect();
    let listed_time = |name: &str| {
        listing
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.modified())
            .unwrap()
    };
    let ms = Duration::from_millis(1);
    // reported after the cleanup
    let mut problems: Vec<String> = Vec::new();
    {
        let m = Mount::new(&source(&t, ""), &[]);
        // a lookup of the single name, before any listing: the HEAD's mtime
        let md = fs::metadata(m.join("rclone")).unwrap();
        assert_time_near(
            "rclone after lookup",
            md.modified().unwrap(),
            secs(1_600_000_000.25),
            ms,
        );
        assert_eq!(md.len(), 10);

        assert_eq!(ls(&m.path), strings(&["d", "listed", "plain", "rclone"]));
        let md = fs::metadata(m.join("plain")).unwrap();
        assert_eq!(md.len(), 1234);
        assert_eq!(md.mode() & 0o170777, 0o100644, "file mode {:o}", md.mode());
        assert_eq!((md.uid(), md.gid()), (0, 0), "owner = the mounting user");
        assert_time_near(
            "plain (no X-Object-Meta-Mtime)",
            md.modified().unwrap(),
            listed_time("plain"),
            Duration::from_secs(1),
        );
        let md = fs::metadata(m.join("d")).unwrap();
        assert_eq!(md.mode() & 0o170777, 0o040755, "dir mode {:o}", md.mode());
        assert_eq!((md.uid(), md.gid()), (0, 0));
        let root = fs::metadata(&m.path).unwrap();
        assert_eq!(
            root.mode() & 0o170777,
            0o040755,
            "root mode {:o}",
            root.mode()
        );

        // "listed" was seen in a listing; once opened its own mtime is known
        let f = File::open(m.join("listed")).unwrap();
        let after_open = (
            f.metadata().unwrap().modified().unwrap(),
            fs::metadata(m.join("listed")).unwrap().modified().unwrap(),
        );
        let want = secs(1_400_000_000.125);
        if ![after_open.0, after_open.1].iter().all(|t| {
            let d = t.duration_since(want).unwrap_or_else(|e| e.duration());
            d <= ms
        }) {
            problems.push(format!(
                "listed: (fstat, stat) mtime after open = {after_open:?}, expected {want:?} \
                 (the listing's last_modified is {:?})",
                listed_time("listed")
            ));
        }
        drop(f);
        for e in fs::read_dir(&m.path).unwrap() {
            let e = e.unwrap();
            assert!(e.file_type().unwrap().is_dir() == (e.file_name() == "d"));
        }
    }
    {
        let m = Mount::new(
            &source(&t, ""),
            &[
                "--uid",
                "1234",
                "--gid",
                "2345",
                "--file-mode",
                "0600",
                "--dir-mode",
                "0750",
            ],
        );
        let md = fs::metadata(m.join("plain")).unwrap();
        assert_eq!(md.mode() & 0o170777, 0o100600, "file mode {:o}", md.mode());
        assert_eq!((md.uid(), md.gid()), (1234, 2345));
        let md = fs::metadata(m.join("d")).unwrap();
        assert_eq!(md.mode() & 0o170777, 0o040750, "dir mode {:o}", md.mode());
        assert_eq!((md.uid(), md.gid()), (1234, 2345));
        assert_eq!(fs::read(m.join("d/f")).unwrap(), b"x");
    }
    t.cleanup().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_file_reads_plain_slo_dlo() {
    let client = lab::client(lab::tempauth());
    let t = TestContainer::new(client.clone(), "mread").await;
    let segs = TestContainer::new(client.clone(), "mread-segs").await;
    let small = random_bytes(1000, 2);
    let big = random_bytes(20 << 20, 3);
    put_all(
        &t,
        vec![
            plain("empty", b""),
            plain("small.txt", &small),
            plain("dir/big.bin", &big),
        ],
    )
    .await;
    // SLO: segments of at least 1 MiB except the last, in another container
    let slo = make_slo(
        &t,
        &segs,
        "slo.bin",
        "slo",
        &[
            random_bytes(1 << 20, 4),
            random_bytes(1 << 20, 5),
            random_bytes(12_345, 6),
        ],
    )
    .await;
    // DLO: the manifest names <container>/<prefix> of its segments
    let dlo_parts = [
        random_bytes(300_000, 7),
        random_bytes(500_001, 8),
        random_bytes(7, 9),
    ];
    for (i, p) in dlo_parts.iter().enumerate() {
        client
            .put_raw(
                &segs.name,
                &obj(&format!("dlo/{i:03}")),
                Bytes::from(p.clone()),
                &[],
            )
            .await
            .unwrap();
    }
    client
        .put_raw(
            &t.name,
            &obj("dlo.bin"),
            Bytes::new(),
            &[
                ("x-object-manifest", format!("{}/dlo/", segs.name)),
                empty_body(),
            ],
        )
        .await
        .unwrap();
    let dlo = dlo_parts.concat();

    let m = Mount::with_env(&source(&t, ""), &[], &tempauth_env());
    assert_eq!(
        ls(&m.path),
        strings(&["dir", "dlo.bin", "empty", "slo.bin", "small.txt"])
    );
    assert_eq!(fs::metadata(m.join("empty")).unwrap().len(), 0);
    assert_eq!(read_all(&m.join("empty")), b"");
    assert_eq!(fs::metadata(m.join("small.txt")).unwrap().len(), 1000);
    assert_same("small.txt", &read_all(&m.join("small.txt")), &small);
    assert_eq!(
        fs::metadata(m.join("dir/big.bin")).unwrap().len(),
        big.len() as u64
    );
    let start = Instant::now();
    assert_same("dir/big.bin", &read_all(&m.join("dir/big.bin")), &big);
    eprintln!("20 MiB sequential read: {:?}", start.elapsed());
    // again, now possibly from the page cache
    assert_same(
        "dir/big.bin again",
        &fs::read(m.join("dir/big.bin")).unwrap(),
        &big,
    );
    assert_eq!(
        fs::metadata(m.join("slo.bin")).unwrap().len(),
        slo.len() as u64,
        "SLO: the listing shows the total size"
    );
    assert_same("slo.bin", &read_all(&m.join("slo.bin")), &slo);

    // DLO after `ls` (its listing row says 0 bytes): opening learns the real size
    let f = File::open(m.join("dlo.bin")).unwrap();
    let fstat_len = f.metadata().unwrap().len();
    drop(f);
    let stat_len = fs::metadata(m.join("dlo.bin")).unwrap().len();
    let read = read_all(&m.join("dlo.bin"));
    let cat = std::process::Command::new("cat")
        .arg(m.join("dlo.bin"))
        .output()
        .unwrap();
    assert!(cat.status.success());
    // every DLO check runs; all problems are reported together
    let mut problems: Vec<String> = Vec::new();
    let lens = (fstat_len, stat_len, read.len(), cat.stdout.len());
    let n = dlo.len();
    if lens != (n as u64, n as u64, n, n) {
        problems.push(format!(
            "DLO after a listing: (fstat after open, stat after open, bytes read, bytes cat) \
             = {lens:?}, expected {n} each"
        ));
    }
    problems.extend(differs("dlo.bin after a listing", &read, &dlo));
    problems.extend(differs("cat dlo.bin after a listing", &cat.stdout, &dlo));
    drop(m);

    // DLO looked up by name (no listing first): a HEAD tells the real size
    let m = Mount::with_env(&source(&t, ""), &[], &tempauth_env());
    let len = fs::metadata(m.join("dlo.bin")).unwrap().len();
    if len != n as u64 {
        problems.push(format!(
            "DLO: size {len} after a lookup by name, expected {n}"
        ));
    }
    problems.extend(differs(
        "dlo.bin on a fresh mount",
        &read_all(&m.join("dlo.bin")),
        &dlo,
    ));
    drop(m);
    t.cleanup().await;
    segs.cleanup().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_at_random_offsets() {
    let client = lab::client(lab::labuser_v3());
    let t = TestContainer::new(client.clone(), "mrand").await;
    let segs = TestContainer::new(client.clone(), "mrand-segs").await;
    let data = random_bytes((6 << 20) + 333, 10);
    put_all(&t, vec![plain("rand.bin", &data)]).await;
    let slo = make_slo(
        &t,
        &segs,
        "slo.bin",
        "s",
        &[
            random_bytes(1 << 20, 11),
            random_bytes((1 << 20) + 17, 12),
            random_bytes(4321, 13),
        ],
    )
    .await;
    let m = Mount::new(&source(&t, ""), &[]);
    for (name, want) in [("rand.bin", &data), ("slo.bin", &slo)] {
        let f = File::open(m.join(name)).unwrap();
        let len = want.len() as u64;
        let mut rng = Rng(0xfeed ^ len);
        // fixed cases: the edges, across the SLO segment boundary, past the end
        let mut cases: Vec<(u64, usize)> = vec![
            (0, 1),
            (len - 1, 1),
            (len - 10, 100),
            (len, 10),
            (len + 4096, 10),
            ((1 << 20) - 3, 6),
            ((2 << 20) + 10, 20),
            (0, 0),
        ];
        for _ in 0..200 {
            let off = rng.below(len + 1000);
            let n = if rng.below(4) == 0 {
                rng.below(1 << 20) as usize
            } else {
                rng.below(70_000) as usize
            };
            cases.push((off, n));
        }
        for (off, n) in cases {
            let got = pread(&f, off, n);
            let s = (off.min(len)) as usize;
            let e = ((off + n as u64).min(len)) as usize;
            assert_same(&format!("{name}: pread {n} at {off}"), &got, &want[s..e]);
        }
        // concurrent readers on one open file
        let f = Arc::new(f);
        let want = Arc::new(want.clone());
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let f = f.clone();
                let want = want.clone();
                let name = name.to_string();
                std::thread::spawn(move || {
                    let mut rng = Rng(k * 7919 + 1);
                    for _ in 0..40 {
                        let off = rng.below(len);
                        let n = rng.below(200_000) as usize;
                        let e = ((off + n as u64).min(len)) as usize;
                        assert_same(
                            &format!("{name}: thread {k} pread {n} at {off}"),
                            &pread(&f, off, n),
                            &want[off as usize..e],
                        );
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
    }
    drop(m);
    t.cleanup().await;
    segs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn folder_bigger_than_one_listing_page() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mpage").await;
    // 250 rows in many/: files and sub-folders, with folders on the page edges (rows
    // 99, 100 and 199 with 100 rows a page)
    let is_folder = |i: usize| i % 33 == 0 || i == 99 || i == 100 || i == 199;
    let mut objects = Vec::new();
    let mut want = Vec::new();
    for i in 0..250 {
        let entry = format!("entry-{i:04}-with-a-fairly-long-name-to-fill-pages");
        if is_folder(i) {
            objects.push(plain(&format!("many/{entry}/inner"), b"i"));
            objects.push(plain(&format!("many/{entry}/inner2"), b"i"));
        } else {
            objects.push(plain(&format!("many/{entry}"), &[i as u8]));
        }
        want.push(entry);
    }
    objects.push(plain("other", b"o"));
    put_all(&t, objects).await;
    want.sort();
    let m = Mount::new(&source(&t, ""), &["--list-page-size", "100"]);
    assert_eq!(ls(&m.path), ["many", "other"]);
    for round in 0..2 {
        let got = ls(&m.join("many"));
        let unique: BTreeSet<&String> = got.iter().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "round {round}: an entry is doubled"
        );
        assert_eq!(got.len(), 250, "round {round}");
        assert_eq!(got, want, "round {round}");
    }
    for (i, name) in want.iter().enumerate() {
        let md = fs::metadata(m.join("many").join(name)).unwrap();
        assert_eq!(md.is_dir(), is_folder(i), "{name}");
        if !md.is_dir() {
            assert_eq!(md.len(), 1, "{name}");
        }
    }
    assert_eq!(ls(&m.join("many").join(&want[99])), ["inner", "inner2"]);
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_cache_ttl() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mttl").await;
    put_all(&t, vec![plain("first", b"1"), plain("sub/a", b"a")]).await;
    let short = Mount::new(&source(&t, ""), &["--dir-cache-ttl", "1"]);
    let default = Mount::new(&source(&t, ""), &[]);
    for m in [&short, &default] {
        assert_eq!(ls(&m.path), ["first", "sub"]);
        assert_eq!(ls(&m.join("sub")), ["a"]);
    }
    put_all(&t, vec![plain("second", b"2"), plain("sub/b", b"b")]).await;
    let added = Instant::now();
    // the default TTL (30 s): served from the cache for now
    while added.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            ls(&default.path),
            ["first", "sub"],
            "default TTL: new object visible after {:?}: the cache is not used",
            added.elapsed()
        );
        assert_eq!(ls(&default.join("sub")), ["a"]);
        std::thread::sleep(Duration::from_millis(250));
    }
    // --dir-cache-ttl 1: visible after ~2 s
    let wait = Duration::from_millis(2200).saturating_sub(added.elapsed());
    std::thread::sleep(wait);
    assert_eq!(
        ls(&short.path),
        ["first", "second", "sub"],
        "--dir-cache-ttl 1, {:?} after the PUT",
        added.elapsed()
    );
    assert_eq!(ls(&short.join("sub")), ["a", "b"]);
    assert_eq!(fs::read(short.join("second")).unwrap(), b"2");
    assert_eq!(fs::read(short.join("sub/b")).unwrap(), b"b");
    drop(short);
    drop(default);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_mount_refuses_every_change_with_erofs() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mro").await;
    put_all(&t, vec![plain("f", b"keep me"), plain("d/g", b"g")]).await;
    // every check runs; all problems are reported together, after the cleanup
    let mut problems: Vec<String> = Vec::new();
    for opts in [&["--read-only"][..], &["-o", "ro,dir_cache_ttl=5"][..]] {
        let m = Mount::new(&source(&t, ""), opts);
        let p = |s: &str| m.join(s);
        let w = || OpenOptions::new().write(true).clone();
        let results: Vec<(&str, std::io::Result<()>)> = vec![
            ("create", File::create(p("new")).map(drop)),
            ("create in d/", fs::write(p("d/new"), b"x")),
            ("open for write", w().open(p("f")).map(drop)),
            (
                "open for append",
                OpenOptions::new().append(true).open(p("f")).map(drop),
            ),
            (
                "open read-write",
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(p("f"))
                    .map(drop),
            ),
            ("truncate", w().truncate(true).open(p("f")).map(drop)),
            ("mkdir", fs::create_dir(p("newdir"))),
            ("unlink", fs::remove_file(p("f"))),
            ("unlink in d/", fs::remove_file(p("d/g"))),
            ("rmdir", fs::remove_dir(p("d"))),
            ("rename", fs::rename(p("f"), p("f2"))),
            ("rename folder", fs::rename(p("d"), p("d2"))),
            (
                "chmod",
                fs::set_permissions(p("f"), fs::Permissions::from_mode(0o600)),
            ),
            ("symlink", std::os::unix::fs::symlink("f", p("link"))),
            ("link", fs::hard_link(p("f"), p("hard"))),
        ];
        for (what, r) in results {
            let got = r.as_ref().map_err(|e| e.raw_os_error());
            if got != Err(Some(libc::EROFS)) {
                problems.push(format!("{opts:?}: {what}: {r:?}, expected EROFS"));
            }
        }
        // and reading still works
        match fs::read(p("f")) {
            Ok(data) if data == b"keep me" => {}
            other => problems.push(format!("{opts:?}: read f: {other:?}")),
        }
        let names = ls(&m.path);
        if names != ["d", "f"] {
            problems.push(format!("{opts:?}: ls shows {names:?}, expected [d, f]"));
        }
    }
    let names = listed_names(&t).await;
    if names != ["d/g", "f"] {
        problems.push(format!("Swift now holds {names:?}, expected [d/g, f]"));
    }
    let got = t.client.get_range(&t.name, &obj("f"), 0..100, None).await;
    if got.as_ref().ok().map(|b| &b[..]) != Some(&b"keep me"[..]) {
        problems.push(format!("f in Swift is now {got:?}"));
    }
    t.cleanup().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_mount_points_fail_with_one_line_and_no_mount() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mbadmp").await;
    put_all(&t, vec![plain("f", b"f")]).await;
    let src = source(&t, "");
    let env = v3_env();
    for foreground in [false, true] {
        let mode = if foreground { "--foreground" } else { "daemon" };
        // missing
        let mp = mount::unique_path("missing");
        let _c = Cleanup(mp.clone());
        let o = mount::run(&mount_args(foreground, &src, &mp), &env, RUN_LIMIT);
        let line = fails_with(&o, &["does not exist", "no such"]);
        assert!(line.contains(mp.to_str().unwrap()), "{mode}: {line}");
        assert!(!mp.exists(), "{mode}: the missing mount point was created");

        // a regular file
        let mp = mount::unique_path("file");
        let _c = Cleanup(mp.clone());
        fs::write(&mp, b"i am a file").unwrap();
        let o = mount::run(&mount_args(foreground, &src, &mp), &env, RUN_LIMIT);
        let line = fails_with(&o, &["not a directory"]);
        assert!(line.contains(mp.to_str().unwrap()), "{mode}: {line}");
        assert_eq!(mountinfo_count(&mp), 0, "{mode}");
        assert_eq!(fs::read(&mp).unwrap(), b"i am a file");

        // not empty
        let mp = mount::fresh_dir("nonempty");
        let _c = Cleanup(mp.clone());
        let keep = mp.join("keep");
        fs::write(&keep, b"k").unwrap();
        let _ck = Cleanup(keep.clone());
        let o = mount::run(&mount_args(foreground, &src, &mp), &env, RUN_LIMIT);
        let line = fails_with(&o, &["not empty"]);
        assert!(line.contains(mp.to_str().unwrap()), "{mode}: {line}");
        assert!(!is_mount_point(&mp), "{mode}: mounted anyway");
        assert_eq!(mountinfo_count(&mp), 0, "{mode}");
        assert_eq!(ls(&mp), ["keep"]);

        // already mounted
        let m = Mount::new(&src, &[]);
        let o = mount::run(&mount_args(foreground, &src, &m.path), &env, RUN_LIMIT);
        let line = fails_with(&o, &["already"]);
        assert!(line.contains(m.path.to_str().unwrap()), "{mode}: {line}");
        assert_eq!(mountinfo_count(&m.path), 1, "{mode}: mounted twice");
        assert_eq!(ls(&m.path), ["f"], "{mode}: the first mount still works");
    }
    // --allow-non-empty mounts over the files, which come back afterwards
    let mp = mount::fresh_dir("nonempty-ok");
    let _c = Cleanup(mp.clone());
    let keep = mp.join("keep");
    fs::write(&keep, b"k").unwrap();
    let _ck = Cleanup(keep.clone());
    {
        let m = Mount::on(mp.clone(), &src, &["--allow-non-empty"], &env);
        assert_eq!(ls(&m.path), ["f"]);
        assert_eq!(m.unmount().code(), Some(0));
    }
    assert_eq!(ls(&mp), ["keep"]);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_container_and_bad_login_fail_with_one_line() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mbadsrc").await;
    let missing = lab::unique("nosuchcontainer");
    let mut bad_v3 = v3_env();
    for kv in bad_v3.iter_mut() {
        if kv.0 == "OS_PASSWORD" {
            kv.1 = "wrong-password-4711".into();
        }
    }
    let mut bad_tempauth = tempauth_env();
    for kv in bad_tempauth.iter_mut() {
        if kv.0 == "ST_KEY" {
            kv.1 = "wrong-key-4711".into();
        }
    }
    for foreground in [false, true] {
        let mode = if foreground { "--foreground" } else { "daemon" };
        let mp = mount::fresh_dir("badsrc");
        let _c = Cleanup(mp.clone());

        let o = mount::run(&mount_args(foreground, &missing, &mp), &v3_env(), RUN_LIMIT);
        let line = fails_with(&o, &["not found"]);
        assert!(line.contains(&missing), "{mode}: {line}");
        assert!(!is_mount_point(&mp), "{mode}");

        let src = format!("{missing}/some/prefix");
        let o = mount::run(&mount_args(foreground, &src, &mp), &v3_env(), RUN_LIMIT);
        fails_with(&o, &["not found"]);
        assert!(!is_mount_point(&mp), "{mode}");

        let src = source(&t, "");
        for (env, secret) in [
            (&bad_v3, "wrong-password-4711"),
            (&bad_tempauth, "wrong-key-4711"),
        ] {
            let o = mount::run(&mount_args(foreground, &src, &mp), env, RUN_LIMIT);
            let line = fails_with(
                &o,
                &["auth", "401", "denied", "credential", "password", "login"],
            );
            assert!(!line.contains(secret), "{mode}: secret printed: {line}");
            assert!(!is_mount_point(&mp), "{mode}");
            assert_eq!(mountinfo_count(&mp), 0, "{mode}");
        }
        assert_eq!(ls(&mp), Vec::<String>::new());
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_sees_replaced_objects_and_old_handles_get_estale() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mreplace").await;
    // larger than what an open fetches with the headers (256 KiB)
    let pinned_v1 = random_bytes(600_000, 30);
    let pinned_v2 = random_bytes(600_000, 31);
    put_all(
        &t,
        vec![plain("doc", b"short"), plain("pinned", &pinned_v1)],
    )
    .await;
    // default TTL: the folder listing stays cached throughout
    let m = Mount::new(&source(&t, ""), &[]);
    assert_eq!(ls(&m.path), ["doc", "pinned"]);
    assert_eq!(read_all(&m.join("doc")), b"short");
    let old = File::open(m.join("pinned")).unwrap(); // opened, nothing read yet

    let longer = random_bytes(40_000, 32);
    put_all(&t, vec![plain("doc", &longer), plain("pinned", &pinned_v2)]).await;
    // every check runs; all problems are reported together
    let mut problems: Vec<String> = Vec::new();
    // a new open asks Swift: the whole new content, though the listing said 5 bytes
    let got = read_all(&m.join("doc"));
    problems.extend(differs(
        "doc replaced by a longer version, reopened",
        &got,
        &longer,
    ));
    // the handle opened before is pinned to the old version: what the open fetched
    // is the old version's, and the rest is refused, never mixed in from the new one
    let mut buf = vec![0u8; 1000];
    match old.read_at(&mut buf, 0) {
        Ok(1000) if buf[..] == pinned_v1[..1000] => {}
        r => problems.push(format!(
            "read of the start of a handle opened before the replacement: {r:?}, \
             expected the old version's bytes"
        )),
    }
    let r = old.read_at(&mut buf, 400_000);
    if r.as_ref().map_err(|e| e.raw_os_error()) != Err(Some(libc::ESTALE)) {
        problems.push(format!(
            "read past the start of a handle whose object was replaced since open: {r:?}, \
             expected ESTALE"
        ));
    }
    drop(old);
    problems.extend(differs(
        "pinned, reopened after replacement",
        &read_all(&m.join("pinned")),
        &pinned_v2,
    ));
    put_all(&t, vec![plain("doc", b"abc")]).await;
    problems.extend(differs(
        "doc replaced by a shorter version, reopened",
        &read_all(&m.join("doc")),
        b"abc",
    ));
    drop(m);
    t.cleanup().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A reader of a large file whose object is replaced mid-read, with ranged GETs
/// of it in flight, gets the old version's bytes and then ESTALE, never a byte of
/// the new version: for a plain object and for a static large object (pinned by
/// the large object's own ETag).
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_replaced_mid_read_gets_estale_never_mixed_bytes() {
    const MIB: usize = 1 << 20;
    let client = lab::client(lab::labuser_v3());
    let t = TestContainer::new(client.clone(), "mmidread").await;
    let segs = TestContainer::new(client.clone(), "mmidread-segs").await;
    let size = 40 * MIB;
    let v1 = random_bytes(size, 40);
    put_all(&t, vec![plain("plain", &v1)]).await;
    let parts: Vec<Vec<u8>> = v1.chunks(8 * MIB).map(<[u8]>::to_vec).collect();
    make_slo(&t, &segs, "large", "v1", &parts).await;
    let m = Mount::new(&source(&t, ""), &[]);
    let mut problems: Vec<String> = Vec::new();
    for name in ["plain", "large"] {
        let f = File::open(m.join(name)).unwrap();
        // sequential reads grow the window: several parts are in flight
        problems.extend(differs(
            &format!("{name}: first 4 MiB"),
            &pread(&f, 0, 4 * MIB),
            &v1[..4 * MIB],
        ));
        let v2 = random_bytes(size, 41);
        put_all(&t, vec![plain(name, &v2)]).await;
        let (mut stale, mut pos) = (0, 4 * MIB);
        let mut buf = vec![0u8; MIB];
        while pos < size {
            match f.read_at(&mut buf, pos as u64) {
                // pages the kernel cached before the error are the old version's too
                Ok(n) if n > 0 && buf[..n] == v1[pos..pos + n] => pos += n,
                Err(e) if e.raw_os_error() == Some(libc::ESTALE) => {
                    stale += 1;
                    pos += MIB;
                }
                r => {
                    problems.push(format!(
                        "{name}: read at {pos} after the replacement: {:?}, expected the \
                         old version's bytes or ESTALE",
                        r.map(|n| &buf[..n.min(16)])
                    ));
                    break;
                }
            }
        }
        if stale == 0 {
            problems.push(format!(
                "{name}: the whole old version was read after its replacement"
            ));
        }
        drop(f);
        problems.extend(differs(
            &format!("{name}: reopened"),
            &read_all(&m.join(name)),
            &v2,
        ));
    }
    drop(m);
    t.cleanup().await;
    segs.cleanup().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn background_mode_mounts_and_exits_on_unmount() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mdaemon").await;
    put_all(
        &t,
        vec![
            plain("hello.txt", b"hello, world"),
            plain("gone.txt", b"bye"),
            plain("stale.txt", b"version 1"),
        ],
    )
    .await;
    let mp = mount::fresh_dir("daemon");
    let _c = Cleanup(mp.clone());
    let src = source(&t, "");
    let o = mount::run(&mount_args(false, &src, &mp), &v3_env(), RUN_LIMIT);
    assert!(
        o.status.success(),
        "background mount failed: {} {}",
        o.stdout,
        o.stderr
    );
    assert!(is_mount_point(&mp), "returned 0 before the mount was up");
    assert_eq!(o.stderr, "", "nothing on stderr when all is well");
    assert_eq!(mountinfo_count(&mp), 1);
    assert!(
        !processes_mentioning(&mp).is_empty(),
        "no background process serves the mount"
    );
    assert_eq!(ls(&mp), ["gone.txt", "hello.txt", "stale.txt"]);
    assert_eq!(fs::read(mp.join("hello.txt")).unwrap(), b"hello, world");

    // changes behind the mount's back: errors, and logging them, must not kill the
    // background process (whose stderr pipe has been closed)
    assert!(fs::metadata(mp.join("gone.txt")).is_ok());
    let opened = File::open(mp.join("stale.txt")).unwrap(); // nothing read yet
    t.client
        .delete_object(&t.name, &obj("gone.txt"))
        .await
        .unwrap();
    t.client
        .put_raw(
            &t.name,
            &obj("hello.txt"),
            Bytes::from_static(b"HELLO, WORLD"),
            &[],
        )
        .await
        .unwrap();
    t.client
        .put_raw(
            &t.name,
            &obj("stale.txt"),
            Bytes::from_static(b"version 2"),
            &[],
        )
        .await
        .unwrap();
    let _ = fs::read(mp.join("gone.txt")); // an error; which one is not specified here
    let mut buf = [0u8; 9];
    let _ = opened.read_at(&mut buf, 0); // ESTALE, logged as a warning
    drop(opened);
    assert_eq!(
        fs::read(mp.join("hello.txt")).unwrap(),
        b"HELLO, WORLD",
        "a new open reads the new version"
    );
    assert!(is_mount_point(&mp), "the background process died");

    mount::fusermount_u(&mp);
    let start = Instant::now();
    while !processes_mentioning(&mp).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "background process {:?} still running 10 s after fusermount3 -u",
            processes_mentioning(&mp)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!is_mount_point(&mp));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_fusermount_unmount_and_exit_zero() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "mexit").await;
    put_all(&t, vec![plain("a", b"a")]).await;
    let m = Mount::new(&source(&t, ""), &[]);
    let path = m.path.clone();
    assert_eq!(ls(&path), ["a"]);
    let status = m.terminate();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
    assert!(!is_mount_point(&path), "still mounted after SIGTERM");
    assert_eq!(mountinfo_count(&path), 0);

    let m = Mount::new(&source(&t, ""), &[]);
    let path = m.path.clone();
    assert_eq!(fs::read(m.join("a")).unwrap(), b"a");
    let status = m.unmount();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after fusermount3 -u: {status}"
    );
    assert!(!is_mount_point(&path));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statfs_reports_name_max_255() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "mstatfs").await;
    put_all(&t, vec![plain("a", &random_bytes(5000, 20))]).await;
    let m = Mount::with_env(&source(&t, ""), &[], &tempauth_env());
    let c = std::ffi::CString::new(m.path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and a zeroed out-parameter of the right type.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
    assert_eq!(st.f_namemax, 255);
    assert!(st.f_bsize > 0 && st.f_frsize > 0, "block size");
    assert!(
        st.f_blocks >= st.f_bfree,
        "{} < {}",
        st.f_blocks,
        st.f_bfree
    );
    assert!(st.f_bfree > 0, "free space for tools that check it");
    let out = std::process::Command::new("df")
        .arg(&m.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "df: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(m.path.to_str().unwrap()), "df: {text}");
    drop(m);
    t.cleanup().await;
}
