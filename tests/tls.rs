//! TLS as a user of a private cloud meets it. The local Swift speaks plain HTTP, so
//! it is put behind an HTTPS proxy with certificates made for each test
//! (tests/common/tls_proxy.rs); the real binary then logs in and talks to Swift
//! through it. Verification is on by default, `--os-cacert` / `OS_CACERT` adds a
//! private CA, `--insecure` turns it off, and every refusal is one clear line.

mod common;

use bytes::Bytes;
use common::files::{random_bytes, read_blocking};
use common::lab::{self, TestContainer, obj};
use common::mount::{self, Cleanup, Mount, fresh_dir, is_mount_point, ok, tempauth_env_via};
use common::objects::swift_bytes;
use common::tls_proxy::{ServerCert, TestCa, TlsProxy};
use std::ffi::OsStr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where the proxies forward to: the plain-HTTP Swift proxy that also does tempauth.
fn upstream() -> String {
    url::Url::parse(&lab::tempauth_url())
        .unwrap()
        .origin()
        .ascii_serialization()
}

/// The names the proxy's certificates are made for: what clients dial.
const HOST_NAMES: &[&str] = &["127.0.0.1", "localhost"];

/// Runs `swiftmount check ARGS` with only `env`, off the runtime's threads (the
/// proxy it talks to runs on them). Fails the test if a secret shows up.
async fn check(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env = env.to_vec();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(mount::BIN)
            .arg("check")
            .args(&args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(&lab::tempauth_key()), "key printed:\n{all}");
    out
}

/// The failure contract: non-zero exit, exactly one line on stderr, naming every
/// one of `what`. Returns the line.
fn fails_with(out: &Output, what: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected:\n{stderr}");
    assert!(stderr.starts_with("swiftmount: "), "{stderr}");
    for w in what {
        assert!(stderr.contains(w), "expected {w:?} in: {stderr}");
    }
    stderr
}

/// Waits (briefly) for the proxy to have seen `n` failed handshakes: the server
/// side learns of the client's refusal a moment after the client has exited.
async fn failed_handshakes(proxy: &TlsProxy, n: usize) -> usize {
    let start = Instant::now();
    while proxy.failed_handshakes() < n && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a retry, if there were one, would have come at once
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.failed_handshakes()
}

/// A refused certificate stops the client during the handshake: no request (no
/// key, no token) is ever sent over that connection, and it is not retried.
async fn assert_refused_before_sending(proxy: &TlsProxy) {
    assert_eq!(
        proxy.requests(),
        0,
        "nothing may be sent to a refused server"
    );
    assert_eq!(
        failed_handshakes(proxy, 1).await,
        1,
        "one refused handshake, not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_is_refused_and_insecure_accepts_it() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "tls-self").await;
    let proxy = TlsProxy::start(&upstream(), ServerCert::self_signed(HOST_NAMES)).await;
    let env = tempauth_env_via(&proxy.base_url());

    let out = check(&[t.name.as_str()], &env).await;
    fails_with(
        &out,
        &[
            "TLS certificate",
            &proxy.tempauth_url(),
            "not signed by a trusted certificate authority",
            "--os-cacert",
            "--insecure",
        ],
    );
    assert_refused_before_sending(&proxy).await;

    let out = check(&["--insecure", t.name.as_str()], &env).await;
    let stdout = ok(&out);
    assert!(stdout.contains("v1 (tempauth)"), "{stdout}");
    assert!(
        stdout.contains(&format!("storage URL: {}/v1/", proxy.base_url())),
        "storage requests go over TLS too: {stdout}"
    );
    assert!(
        stdout.contains(&format!("container:   {} (0 objects", t.name)),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not verified"),
        "--insecure is said out loud: {stderr}"
    );
    assert!(
        proxy.requests() >= 2,
        "login and HEAD went through the proxy"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn private_ca_is_trusted_with_os_cacert() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "tls-ca").await;
    let ca = TestCa::new("private");
    let other = TestCa::new("other");
    let proxy = TlsProxy::start(&upstream(), ca.server_cert(HOST_NAMES)).await;
    let env = tempauth_env_via(&proxy.base_url());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let other_file = other.write_pem(dir.path(), "other.pem");
    let ca_arg = ca_file.to_str().unwrap();

    // the system's roots alone do not know the private CA
    let out = check(&[t.name.as_str()], &env).await;
    fails_with(&out, &["TLS certificate", "--os-cacert"]);
    assert_refused_before_sending(&proxy).await;

    // --os-cacert: verified, not switched off
    let stdout = ok(&check(&["--os-cacert", ca_arg, t.name.as_str()], &env).await);
    assert!(
        stdout.contains(&format!("storage URL: {}/v1/", proxy.base_url())),
        "{stdout}"
    );
    assert!(stdout.contains(t.name.as_str()), "{stdout}");

    // OS_CACERT, as the OpenStack clients read it
    let mut with_env = env.clone();
    with_env.push(("OS_CACERT", ca_arg.to_string()));
    ok(&check(&[t.name.as_str()], &with_env).await);

    // a bundle: the CA that matters needs not be the first certificate
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, format!("{}\n{}", other.pem(), ca.pem())).unwrap();
    ok(&check(
        &["--os-cacert", bundle.to_str().unwrap(), t.name.as_str()],
        &env,
    )
    .await);

    // the flag wins over the environment: an unrelated CA named by the flag is
    // what counts, even with the right one in OS_CACERT
    let refused_before = proxy.failed_handshakes();
    let out = check(
        &["--os-cacert", other_file.to_str().unwrap(), t.name.as_str()],
        &with_env,
    )
    .await;
    fails_with(&out, &["TLS certificate", "not signed by a trusted"]);
    assert_eq!(
        failed_handshakes(&proxy, refused_before + 1).await,
        refused_before + 1
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_name_or_expired_is_refused_even_with_the_right_ca() {
    let ca = TestCa::new("names");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let ca_arg = ca_file.to_str().unwrap();

    let wrong = TlsProxy::start(&upstream(), ca.server_cert(&["swift.wrong.example"])).await;
    let out = check(
        &["--os-cacert", ca_arg, "c"],
        &tempauth_env_via(&wrong.base_url()),
    )
    .await;
    let line = fails_with(
        &out,
        &[
            "TLS certificate",
            "it is for swift.wrong.example, not \"127.0.0.1\"",
        ],
    );
    assert!(
        !line.contains("--insecure"),
        "a host name mismatch is not fixed by turning checks off: {line}"
    );
    assert_refused_before_sending(&wrong).await;

    let expired = TlsProxy::start(&upstream(), ca.expired_server_cert(HOST_NAMES)).await;
    let out = check(
        &["--os-cacert", ca_arg, "c"],
        &tempauth_env_via(&expired.base_url()),
    )
    .await;
    fails_with(
        &out,
        &[
            "TLS certificate",
            "expired 2001-01-01 00:00:00 UTC",
            "clock",
        ],
    );
    assert_refused_before_sending(&expired).await;
}

/// A token and storage URL made elsewhere: no login at all, the first request over
/// TLS is a storage request.
#[tokio::test(flavor = "multi_thread")]
async fn pre_made_token_storage_requests_over_tls() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "tls-token").await;
    let session = t.client.session().await.unwrap();
    let ca = TestCa::new("token");
    let proxy = TlsProxy::start(&upstream(), ca.server_cert(HOST_NAMES)).await;
    let storage_url = format!("{}{}", proxy.base_url(), session.storage_url.path());
    let env = vec![
        ("OS_STORAGE_URL", storage_url.clone()),
        ("OS_AUTH_TOKEN", session.token.expose().to_string()),
    ];

    let out = check(&[t.name.as_str()], &env).await;
    let line = fails_with(&out, &["TLS certificate", &storage_url, "--os-cacert"]);
    assert!(
        !line.contains(session.token.expose()),
        "token printed: {line}"
    );
    // not retried like a network error would be
    assert_refused_before_sending(&proxy).await;

    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let out = check(
        &["--os-cacert", ca_file.to_str().unwrap(), t.name.as_str()],
        &env,
    )
    .await;
    let stdout = ok(&out);
    assert!(stdout.contains("pre-authenticated token"), "{stdout}");
    assert!(stdout.contains(&storage_url), "{stdout}");
    assert!(!stdout.contains(session.token.expose()), "token printed");
    assert!(stdout.contains("cluster:     Swift 2."), "{stdout}");
    assert_eq!(
        proxy.requests(),
        2,
        "a HEAD of the container and GET /info, over the same TLS"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ca_file_is_one_clear_line() {
    // Nothing listens there: had the CA file been skipped, the line would say
    // "cannot reach" instead.
    let env = vec![
        ("ST_AUTH", "https://127.0.0.1:9/auth/v1.0".to_string()),
        ("ST_USER", "test:tester".into()),
        ("ST_KEY", lab::tempauth_key()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cases = [
        (
            dir.path().join("absent.pem").to_str().unwrap().to_string(),
            "No such file",
        ),
        (dir.path().to_str().unwrap().to_string(), "directory"),
        (write("empty.pem", ""), "no certificate"),
        (write("text.pem", "not a certificate\n"), "no certificate"),
        (write("key.pem", &key_pem), "no certificate"),
        (
            write(
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
            ),
            "not a PEM file",
        ),
        (
            write(
                "garbage.pem",
                "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
            ),
            "certificate 1 is not a usable CA certificate",
        ),
    ];
    for (path, why) in &cases {
        let out = check(&["--os-cacert", path, "c"], &env).await;
        fails_with(
            &out,
            &[&format!("cannot use CA certificates from {path}: "), why],
        );
    }

    // the same from OS_CACERT
    let mut with_env = env.clone();
    with_env.push(("OS_CACERT", cases[0].0.clone()));
    fails_with(
        &check(&["c"], &with_env).await,
        &[&cases[0].0, "No such file"],
    );

    // and for a mount, which goes to the background: one line, no mount left
    let mp = fresh_dir("tls-badca");
    let _cleanup = Cleanup(mp.clone());
    let outcome = tokio::task::spawn_blocking({
        let (mp, env, path) = (mp.clone(), env.clone(), cases[0].0.clone());
        move || {
            mount::run(
                &[
                    OsStr::new("--os-cacert"),
                    OsStr::new(&path),
                    OsStr::new("c"),
                    mp.as_os_str(),
                ],
                &env,
                Duration::from_secs(30),
            )
        }
    })
    .await
    .unwrap();
    assert!(!outcome.status.success(), "{outcome:?}");
    assert_eq!(outcome.stderr.lines().count(), 1, "{outcome:?}");
    assert!(
        outcome.stderr.contains("cannot use CA certificates from"),
        "{outcome:?}"
    );
    assert!(!is_mount_point(&mp));
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_over_tls_with_private_ca() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "tls-mount").await;
    let data = random_bytes(3 << 20, 42);
    t.client
        .put_raw(
            &t.name,
            &obj("dir/data.bin"),
            Bytes::from(data.clone()),
            &[],
        )
        .await
        .unwrap();
    let ca = TestCa::new("mount");
    let proxy = TlsProxy::start(&upstream(), ca.server_cert(HOST_NAMES)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");

    let m = tokio::task::spawn_blocking({
        let (source, env) = (t.name.to_string(), tempauth_env_via(&proxy.base_url()));
        let ca_file = ca_file.to_str().unwrap().to_string();
        move || Mount::with_env(&source, &["--os-cacert", &ca_file], &env)
    })
    .await
    .unwrap();

    // off the runtime: FUSE calls end up at the proxy, which runs on it
    let got = read_blocking(m.join("dir/data.bin")).await.unwrap();
    assert!(
        got == data,
        "bytes read over TLS differ ({} read)",
        got.len()
    );

    // and a write, stored in Swift through the same TLS connection pool
    let written = random_bytes(100_000, 7);
    tokio::task::spawn_blocking({
        let (path, written) = (m.join("new.bin"), written.clone());
        move || std::fs::write(path, written).unwrap()
    })
    .await
    .unwrap();
    let stored = swift_bytes(&t, "new.bin").await;
    assert!(stored == written, "bytes written over TLS differ");
    assert!(
        proxy.requests() >= 3,
        "login, reads and the PUT went over TLS"
    );
    assert_eq!(proxy.failed_handshakes(), 0);

    let log = m.log();
    let status = tokio::task::spawn_blocking(move || m.unmount())
        .await
        .unwrap();
    assert!(status.success(), "{status}; log:\n{log}");
    assert!(
        !log.contains(&lab::tempauth_key()),
        "key in the log:\n{log}"
    );
    t.cleanup().await;
}
