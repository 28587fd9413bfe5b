//! `swiftmount check` as a user runs it: the real binary, a clean environment, the
//! real Keystone / tempauth / Swift, and one clear line for each kind of bad input.

mod common;

use common::lab::{self, TestContainer};
use common::mount::ok;
use common::v2_identity::{V2Identity, V2IdentityConfig};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const SECRETS: &[&str] = &[
    "lab-secret",
    "demo-secret",
    "demo-apikey",
    "testing",
    "appcred-secret",
];

/// Runs the binary with only the given environment (no stray OS_* of the caller).
fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    check_in(None, args, env)
}

/// [`check`] run in `cwd` (where clouds.yaml is looked for first).
fn check_in(cwd: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swiftmount"));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd
        .arg("check")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for s in SECRETS {
        assert!(!all.contains(s), "secret {s:?} printed:\n{all}");
    }
    out
}

/// The failure contract: non-zero exit, exactly one line on stderr, naming `what`.
fn fails_with(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected:\n{stderr}");
    assert!(stderr.starts_with("swiftmount: "), "{stderr}");
    assert!(stderr.contains(what), "expected {what:?} in: {stderr}");
}

fn v3_url(container: &str, extra: &str) -> String {
    format!(
        "openstack://{container}/some/prefix?auth-username=labuser&openstack-authuri={}&openstack-version=v3\
         &openstack-domain-name=labdomain&openstack-tenant-name=labproject{extra}",
        lab::keystone_v3()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicati_url_v3_with_region_and_precedence() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "cli").await;
    let pw = lab::labuser_password();
    let url = v3_url(t.name.as_str(), "&openstack-region=RegionTwo");
    let out = ok(&check(
        &[&url],
        &[("OS_PASSWORD", &pw), ("OS_REGION_NAME", "RegionOne")],
    ));
    assert!(out.contains("Keystone v3"), "{out}");
    assert!(
        out.contains("region:      RegionTwo"),
        "URL beats env: {out}"
    );
    assert!(out.contains(":8081/v1/AUTH_"), "{out}");
    assert!(out.contains("0 objects"), "{out}");
    assert!(out.contains("some/prefix/"), "{out}");
    // the cluster's capabilities, from /info
    for line in [
        "cluster:     Swift 2.",
        "large files: SLO, up to 1000 segments: files up to 2.2 TiB with --segment-size 64.0 MiB (segments double every 100), manifests up to 8.0 MiB",
        "object size: at most 5.0 GiB per object or segment",
        "symlinks:    offered",
        "bulk delete: offered (10000 per request)",
        "versioning:  offered (object_versioning, versioned_writes)",
        "metadata:    90 items, values up to 256 bytes, 4096 bytes in all",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    let small = ok(&check(
        &["--segment-size", "8M", &url],
        &[("OS_PASSWORD", &pw)],
    ));
    assert!(
        small.contains("files up to 799.2 GiB with --segment-size 8.0 MiB"),
        "{small}"
    );

    // a flag beats the URL
    let out = ok(&check(
        &["--openstack-region", "regionone", &url],
        &[("OS_PASSWORD", &pw)],
    ));
    assert!(out.contains(":8080/v1/AUTH_"), "{out}");

    // a region matching none: the first endpoint, said so
    let url = v3_url(t.name.as_str(), "&openstack-region=Atlantis");
    let out = ok(&check(&[&url], &[("OS_PASSWORD", &pw)]));
    assert!(out.contains("no endpoint in region \"Atlantis\""), "{out}");

    // password from a file, trace logging on: still no secret anywhere
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{pw}\n")).unwrap();
    let url = v3_url(t.name.as_str(), "");
    ok(&check(
        &["-vvv", "--auth-password-file", file.to_str().unwrap(), &url],
        &[],
    ));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tempauth_from_st_variables() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "cli-v1").await;
    let out = ok(&check(
        &[t.name.as_str()],
        &[
            ("ST_AUTH", &lab::tempauth_url()),
            ("ST_USER", "test:tester"),
            ("ST_KEY", "testing"),
        ],
    ));
    assert!(
        out.contains("v1 (tempauth)") && out.contains("TEMPAUTH_test"),
        "{out}"
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keystone_v2_password_and_api_key() {
    let idp = V2Identity::start(V2IdentityConfig::from_env()).await;
    let demo = lab::client(swiftmount::swift::Credentials::KeystoneV2 {
        auth_url: url::Url::parse(&idp.base_url()).unwrap(),
        username: "demo".into(),
        secret: swiftmount::swift::V2Secret::Password(swiftmount::swift::Secret::new(
            "demo-secret",
        )),
        tenant: Some(swiftmount::swift::NameOrId::Name("demo".into())),
    });
    let c = TestContainer::new(demo, "cli-v2").await;
    // no openstack-version: an auth URI not ending in /v3 means v2, as in Duplicati
    let url = format!(
        "openstack://{}?auth-username=demo&openstack-tenant-name=demo&openstack-authuri={}&openstack-region=RegionTwo",
        c.name,
        idp.base_url()
    );
    let out = ok(&check(&[&url], &[("OS_PASSWORD", "demo-secret")]));
    assert!(
        out.contains("Keystone v2.0") && out.contains(":8081/"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "demo-apikey").unwrap();
    let out = ok(&check(
        &["--openstack-apikey-file", key.to_str().unwrap(), &url],
        &[("OS_PASSWORD", "wrong: the API key wins")],
    ));
    assert!(out.contains("Keystone v2.0"), "{out}");

    let empty = V2Identity::start(V2IdentityConfig {
        empty_catalog: true,
        ..V2IdentityConfig::from_env()
    })
    .await;
    let url = format!(
        "openstack://c?auth-username=demo&openstack-tenant-name=demo&openstack-authuri={}&openstack-region=Mars",
        empty.base_url()
    );
    fails_with(&check(&[&url], &[("OS_PASSWORD", "demo-secret")]), "Mars");
    c.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn application_credential_and_pre_made_token_from_env() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "cli-ac").await;
    let (id, user_id, token) =
        lab::make_app_credential(&lab::unique("cli-ac"), "appcred-secret").await;
    let ks = lab::keystone_v3();
    let out = ok(&check(
        &[t.name.as_str()],
        &[
            ("OS_AUTH_URL", ks.as_str()),
            ("OS_APPLICATION_CREDENTIAL_ID", id.as_str()),
            ("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-secret"),
        ],
    ));
    assert!(out.contains("Keystone v3"), "{out}");
    lab::delete_app_credential(&id, &user_id, &token).await;

    // an application credential past its expiry: refused, in one line
    // (room for a login on a loaded machine before it expires: 5 s were too few at load 25)
    let until = chrono::Utc::now() + chrono::Duration::seconds(20);
    let stamp = until.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (id, user_id, token) =
        lab::make_app_credential_until(&lab::unique("cli-ac-exp"), "appcred-secret", Some(&stamp))
            .await;
    let env = [
        ("OS_AUTH_URL", ks.as_str()),
        ("OS_APPLICATION_CREDENTIAL_ID", id.as_str()),
        ("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-secret"),
    ];
    if chrono::Utc::now() + chrono::Duration::seconds(12) < until {
        ok(&check(&[t.name.as_str()], &env)); // still valid
    }
    let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(2)).await;
    let expired = check(&[t.name.as_str()], &env);
    fails_with(&expired, "credentials refused");
    assert!(
        !String::from_utf8_lossy(&expired.stderr).contains("appcred-secret"),
        "secret printed"
    );
    lab::delete_app_credential(&id, &user_id, &token).await;

    let session = t.client.session().await.unwrap();
    let out = ok(&check(
        &[t.name.as_str()],
        &[
            ("OS_STORAGE_URL", session.storage_url.as_str()),
            ("OS_AUTH_TOKEN", session.token.expose()),
        ],
    ));
    assert!(out.contains("pre-authenticated token"), "{out}");
    assert!(
        !out.contains(session.token.expose()),
        "token printed: {out}"
    );
    t.cleanup().await;
}

#[test]
fn bad_input_gets_one_clear_line() {
    let pw = lab::labuser_password();
    let env = [("OS_PASSWORD", pw.as_str())];
    fails_with(
        &check(&[&v3_url("c", "")], &[("OS_PASSWORD", "wrong")]),
        "401",
    );
    fails_with(&check(&["s3://bucket/x"], &env), "openstack://");
    fails_with(
        &check(&["openstack://?auth-username=x"], &env),
        "no container",
    );
    fails_with(
        &check(&["openstack://c?auth-pasword=x"], &env),
        "auth-pasword",
    );
    fails_with(
        &check(&[&v3_url("c", "&openstack-version=v9")], &env),
        "openstack-version",
    );
    fails_with(
        &check(
            &["openstack://c?openstack-authuri=http://127.0.0.1:5000/v3"],
            &env,
        ),
        "no username",
    );
    fails_with(
        &check(
            &["openstack://c?auth-username=u&openstack-authuri=http://127.0.0.1:9/v3"],
            &env,
        ),
        "cannot reach http://127.0.0.1:9/v3/auth/tokens",
    );
    fails_with(&check(&["c"], &[]), "no auth URL");
    fails_with(
        &check(&[&v3_url(&lab::unique("absent"), "")], &env),
        "not found",
    );
}

#[test]
fn usage_errors_are_one_line_with_exit_code_2() {
    for args in [
        &["--bogus", "c", "/mnt"][..],
        &["c"][..],
        &["--file-mode", "999", "c", "/mnt"][..],
        &["c", "/mnt", "-o", "no_such_option"][..],
        &["--segment-size", "8Q", "c", "/mnt"][..],
        &["--segment-size", "6G", "c", "/mnt"][..],
        &["--metrics-addr", "localhost:9100", "c", "/mnt"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_swiftmount"))
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("swiftmount: "), "{stderr}");
    }
}

/// labuser (domain labdomain, project labproject) as a clouds.yaml cloud, its password
/// kept apart in secure.yaml as openstacksdk allows.
fn lab_clouds(dir: &Path, extra: &str) {
    let ks = lab::keystone_v3();
    std::fs::write(
        dir.join("clouds.yaml"),
        format!(
            "clouds:\n  lab:\n    auth:\n      auth_url: {ks}\n      username: labuser\n      \
             project_name: labproject\n      user_domain_name: labdomain\n      \
             project_domain_name: labdomain\n    region_name: RegionTwo\n    \
             identity_api_version: 3\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("secure.yaml"),
        format!(
            "clouds:\n  lab:\n    auth:\n      password: {}\n",
            lab::labuser_password()
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn clouds_yaml_password_region_and_precedence() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "cli-cloud").await;
    let dir = tempfile::tempdir().unwrap();
    lab_clouds(dir.path(), "");
    let c = t.name.as_str();
    // from the working directory, password merged in from secure.yaml; trace logging
    // on, and still no secret anywhere
    let out = ok(&check_in(
        Some(dir.path()),
        &["-vvv", "--os-cloud", "lab", c],
        &[],
    ));
    assert!(out.contains("Keystone v3"), "{out}");
    assert!(out.contains("region:      RegionTwo"), "{out}");
    assert!(out.contains(":8081/v1/AUTH_"), "{out}");

    // OS_CLOUD and OS_CLIENT_CONFIG_FILE, from anywhere; secure.yaml is then not in
    // the search path, so the password comes from the environment
    let file = dir.path().join("clouds.yaml");
    let pw = lab::labuser_password();
    let env = [
        ("OS_CLOUD", "lab"),
        ("OS_CLIENT_CONFIG_FILE", file.to_str().unwrap()),
        ("OS_PASSWORD", pw.as_str()),
    ];
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ok(&check_in(Some(elsewhere.path()), &[c], &env));
    assert!(out.contains(":8081/v1/AUTH_"), "{out}");

    // the environment beats the cloud, a flag beats the environment
    let mut with_region = env.to_vec();
    with_region.push(("OS_REGION_NAME", "RegionOne"));
    let out = ok(&check_in(Some(elsewhere.path()), &[c], &with_region));
    assert!(
        out.contains("region:      RegionOne"),
        "env over cloud: {out}"
    );
    let out = ok(&check_in(
        Some(elsewhere.path()),
        &["--openstack-region", "RegionTwo", c],
        &with_region,
    ));
    assert!(
        out.contains("region:      RegionTwo"),
        "flag over env: {out}"
    );
    // ... and a wrong password in the environment beats secure.yaml's right one
    fails_with(
        &check_in(
            Some(dir.path()),
            &["--os-cloud", "lab", c],
            &[("OS_PASSWORD", "wrong")],
        ),
        "401",
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clouds_yaml_application_credential_and_token() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "cli-cloud-ac").await;
    let (id, user_id, token) =
        lab::make_app_credential(&lab::unique("cli-cloud-ac"), "appcred-secret").await;
    let dir = tempfile::tempdir().unwrap();
    let ks = lab::keystone_v3();
    let session = t.client.session().await.unwrap();
    std::fs::write(
        dir.path().join("clouds.yaml"),
        format!(
            "clouds:\n  ac:\n    auth_type: v3applicationcredential\n    auth:\n      \
             auth_url: {ks}\n      application_credential_id: {id}\n      \
             application_credential_secret: appcred-secret\n  tok:\n    auth_type: v3token\n    \
             region_name: RegionOne\n    auth:\n      auth_url: {ks}\n      token: {}\n      \
             project_name: labproject\n      project_domain_name: labdomain\n",
            session.token.expose()
        ),
    )
    .unwrap();
    let c = t.name.as_str();
    let out = ok(&check_in(
        Some(dir.path()),
        &["-vvv", "--os-cloud", "ac", c],
        &[],
    ));
    assert!(out.contains("Keystone v3"), "{out}");
    let run = check_in(Some(dir.path()), &["-vvv", "--os-cloud", "tok", c], &[]);
    let log = String::from_utf8_lossy(&run.stderr).into_owned();
    let out = ok(&run);
    assert!(
        out.contains("Keystone v3") && out.contains(":8080/"),
        "{out}"
    );
    assert!(
        !out.contains(session.token.expose()) && !log.contains(session.token.expose()),
        "token printed: {out}{log}"
    );
    lab::delete_app_credential(&id, &user_id, &token).await;
    t.cleanup().await;
}

#[test]
fn clouds_yaml_bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path());
    fails_with(
        &check_in(d, &["--os-cloud", "lab", "c"], &[]),
        "no clouds.yaml",
    );
    lab_clouds(dir.path(), "  other: {}\n");
    fails_with(
        &check_in(d, &["--os-cloud", "nope", "c"], &[]),
        "cloud \"nope\" not found in ",
    );
    let listed = check_in(d, &["--os-cloud", "nope", "c"], &[]);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(
        stderr.contains("lab, other") && stderr.contains("secure.yaml"),
        "{stderr}"
    );
    // the password missing: secure.yaml gone, nothing in the environment
    std::fs::remove_file(dir.path().join("secure.yaml")).unwrap();
    fails_with(
        &check_in(d, &["--os-cloud", "lab", "c"], &[]),
        "has no auth.password",
    );
    lab_clouds(dir.path(), "    auth_type: v3oidcpassword\n");
    fails_with(
        &check_in(d, &["--os-cloud", "lab", "c"], &[]),
        "unknown auth_type \"v3oidcpassword\"",
    );
    std::fs::write(
        dir.path().join("clouds.yaml"),
        "clouds:\n  lab:\n    region_name: a: b\n",
    )
    .unwrap();
    fails_with(&check_in(d, &["--os-cloud", "lab", "c"], &[]), "line 3");
    // a clouds.yaml that cannot be read (here a folder: root reads any file)
    std::fs::remove_file(dir.path().join("clouds.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("clouds.yaml")).unwrap();
    fails_with(
        &check_in(d, &["--os-cloud", "lab", "c"], &[]),
        "cannot read",
    );
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_swiftmount"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{version}");
    let head = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        version.trim(),
        format!("swiftmount {} (commit {head})", env!("CARGO_PKG_VERSION"))
    );
}
