//! Every way of logging in, against the real local Keystone, tempauth and Swift.

mod common;

use common::lab::{self, REGION_ONE_PORT, REGION_TWO_PORT};
use common::v2_identity::{V2Identity, V2IdentityConfig};
use std::sync::Arc;
use std::time::Duration;
use swiftmount::swift::{
    ClientConfig, ContainerName, Credentials, NameOrId, ObjectStore, Secret, SwiftClient,
    SwiftError, V2Secret, V3Identity,
};
use url::Url;

async fn session_port(creds: Credentials, region: Option<&str>) -> (u16, SwiftClient) {
    let client = SwiftClient::new(
        creds,
        lab::region(region),
        ClientConfig::default(),
        Default::default(),
    )
    .unwrap();
    let session = client.session().await.unwrap();
    // the token must work on the chosen endpoint, not only be issued
    client.account_info().await.unwrap();
    (session.storage_url.port().unwrap(), client)
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_non_default_domain_and_region_rule() {
    let (port, c) = session_port(lab::labuser_v3(), Some("RegionTwo")).await;
    assert_eq!(port, REGION_TWO_PORT);
    assert!(c.session().await.unwrap().region_matched);

    // case-insensitive match
    let (port, _) = session_port(lab::labuser_v3(), Some("regionone")).await;
    assert_eq!(port, REGION_ONE_PORT);

    // no region and an unknown region both take the catalog's first endpoint
    let (first, _) = session_port(lab::labuser_v3(), None).await;
    let (fallback, c) = session_port(lab::labuser_v3(), Some("Atlantis")).await;
    assert_eq!(fallback, first);
    let s = c.session().await.unwrap();
    assert!(!s.region_matched);
    assert_eq!(s.version, swiftmount::swift::AuthVersion::V3);
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_default_domain_user() {
    let creds = Credentials::KeystoneV3 {
        auth_url: Url::parse(&lab::keystone_v3()).unwrap(),
        identity: V3Identity::Password {
            user: NameOrId::Name("demo".into()),
            user_domain: None,
            password: Secret::new(lab::env_or("SWIFTMOUNT_TEST_DEMO_PASSWORD", "demo-secret")),
        },
        project: Some(swiftmount::swift::V3Project {
            project: NameOrId::Name("demo".into()),
            domain: None,
        }),
    };
    session_port(creds, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_tempauth() {
    let client = lab::client(lab::tempauth());
    let s = client.session().await.unwrap();
    assert!(
        s.storage_url.path().contains("TEMPAUTH_test"),
        "{}",
        s.storage_url
    );
    assert!(
        s.expires_at.is_some(),
        "tempauth reports X-Auth-Token-Expires"
    );
    let c = ContainerName::new(lab::unique("v1")).unwrap();
    client.create_container(&c).await.unwrap();
    assert_eq!(client.container_info(&c).await.unwrap().object_count, 0);
    client.delete_container(&c).await.unwrap();
}

fn v2_creds(idp: &V2Identity, secret: V2Secret, tenant: Option<NameOrId>) -> Credentials {
    Credentials::KeystoneV2 {
        auth_url: Url::parse(&idp.base_url()).unwrap(),
        username: "demo".into(),
        secret,
        tenant,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_password_and_api_key() {
    let idp = V2Identity::start(V2IdentityConfig::from_env()).await;
    let pw = V2Secret::Password(Secret::new("demo-secret"));
    let (port, _) = session_port(
        v2_creds(&idp, pw.clone(), Some(NameOrId::Name("demo".into()))),
        Some("REGIONTWO"),
    )
    .await;
    assert_eq!(port, REGION_TWO_PORT);
    let (first, _) = session_port(
        v2_creds(&idp, pw, Some(NameOrId::Name("demo".into()))),
        None,
    )
    .await;
    let (fallback, _) = session_port(
        v2_creds(
            &idp,
            V2Secret::Password(Secret::new("demo-secret")),
            Some(NameOrId::Name("demo".into())),
        ),
        Some("nowhere"),
    )
    .await;
    assert_eq!(first, fallback);

    let key = V2Secret::ApiKey(Secret::new("demo-apikey"));
    let (_, c) = session_port(v2_creds(&idp, key, None), None).await;
    assert_eq!(
        c.session().await.unwrap().version,
        swiftmount::swift::AuthVersion::V2
    );
    assert_eq!(idp.requests(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_empty_catalog_names_the_problem() {
    let idp = V2Identity::start(V2IdentityConfig {
        empty_catalog: true,
        ..V2IdentityConfig::from_env()
    })
    .await;
    let creds = v2_creds(
        &idp,
        V2Secret::Password(Secret::new("demo-secret")),
        Some(NameOrId::Name("demo".into())),
    );
    let client = SwiftClient::new(
        creds,
        lab::region(Some("RegionTwo")),
        ClientConfig::default(),
        Default::default(),
    )
    .unwrap();
    let err = client.session().await.unwrap_err();
    assert!(matches!(err, SwiftError::NoEndpoint(_)), "{err:?}");
    assert!(err.to_string().contains("RegionTwo"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_application_credential_by_id_and_by_name() {
    let name = lab::unique("appcred");
    let (id, user_id, token) = lab::make_app_credential(&name, "appcred-secret").await;
    let auth_url = Url::parse(&lab::keystone_v3()).unwrap();
    let by_id = Credentials::KeystoneV3 {
        auth_url: auth_url.clone(),
        identity: V3Identity::ApplicationCredential {
            credential: NameOrId::Id(id.clone()),
            user: None,
            user_domain: None,
            secret: Secret::new("appcred-secret"),
        },
        project: None,
    };
    let (port, _) = session_port(by_id, Some("RegionTwo")).await;
    assert_eq!(port, REGION_TWO_PORT);
    let by_name = Credentials::KeystoneV3 {
        auth_url,
        identity: V3Identity::ApplicationCredential {
            credential: NameOrId::Name(name),
            user: Some(NameOrId::Name("labuser".into())),
            user_domain: Some(NameOrId::Name("labdomain".into())),
            secret: Secret::new("appcred-secret"),
        },
        project: None,
    };
    session_port(by_name.clone(), None).await;
    lab::delete_app_credential(&id, &user_id, &token).await;
    let client = SwiftClient::new(
        by_name,
        lab::region(None),
        ClientConfig::default(),
        Default::default(),
    )
    .unwrap();
    let err = client.session().await.unwrap_err();
    assert!(
        matches!(err, SwiftError::AuthFailed { .. }),
        "deleted credential must fail: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pre_made_token_and_storage_url() {
    let source = lab::client(lab::labuser_v3());
    let s = source.session().await.unwrap();
    let creds = Credentials::Token {
        storage_url: s.storage_url.clone(),
        token: s.token.clone(),
    };
    let client = lab::client(creds);
    client.account_info().await.unwrap();
    assert_eq!(client.logins(), 1, "no auth server is contacted");

    let bogus = lab::client(Credentials::Token {
        storage_url: s.storage_url.clone(),
        token: Secret::new("not-a-token"),
    });
    let err = bogus.account_info().await.unwrap_err();
    assert!(matches!(err, SwiftError::AuthFailed { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_refused_with_a_clear_error() {
    let mut creds = lab::labuser_v3();
    if let Credentials::KeystoneV3 {
        identity: V3Identity::Password { password, .. },
        ..
    } = &mut creds
    {
        *password = Secret::new("wrong-password");
    }
    let err = lab::client(creds).session().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SwiftError::AuthFailed { .. }), "{err:?}");
    assert!(
        msg.contains("401") && !msg.contains("wrong-password"),
        "{msg}"
    );

    let Credentials::TempAuth { auth_url, user, .. } = lab::tempauth() else {
        unreachable!()
    };
    let err = lab::client(Credentials::TempAuth {
        auth_url,
        user,
        key: Secret::new("nope"),
    })
    .session()
    .await
    .unwrap_err();
    assert!(matches!(err, SwiftError::AuthFailed { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_auth_url() {
    let creds = Credentials::KeystoneV3 {
        auth_url: Url::parse("http://127.0.0.1:9/v3").unwrap(),
        identity: V3Identity::Password {
            user: NameOrId::Name("u".into()),
            user_domain: None,
            password: Secret::new("p"),
        },
        project: None,
    };
    let err = lab::client(creds).session().await.unwrap_err();
    assert!(matches!(err, SwiftError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn renews_ahead_of_expiry() {
    // The emulator reports a 12 s lifetime: with the default margin (a quarter of the
    // lifetime) the client logs in again once 9 s have passed, before the expiry.
    // (Seconds, not less: on a loaded CI machine two requests once took over 3 s.)
    let idp = V2Identity::start(V2IdentityConfig {
        expires_override: Some(Duration::from_secs(12)),
        ..V2IdentityConfig::from_env()
    })
    .await;
    let creds = v2_creds(
        &idp,
        V2Secret::Password(Secret::new("demo-secret")),
        Some(NameOrId::Name("demo".into())),
    );
    let client = lab::client(creds);
    let start = std::time::Instant::now();
    client.account_info().await.unwrap();
    // the token was issued before this instant: 9.5 s on, it is due for renewal
    // however long the login took (at load 25 it once took longer than 0.5 s)
    let logged_in = std::time::Instant::now();
    client.account_info().await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(client.logins(), 1);
    tokio::time::sleep(Duration::from_millis(9500).saturating_sub(logged_in.elapsed())).await;
    client.account_info().await.unwrap();
    assert_eq!(client.logins(), 2);
    assert_eq!(idp.requests(), 2);
}

/// Keystone must issue short tokens for this test (scripts/test.sh starts it with a
/// 60 s lifetime): a real expired token, refused by the real Swift with 401.
fn short_lifetime(s: &swiftmount::swift::Session) -> Duration {
    let lifetime = (s.expires_at.expect("keystone tokens expire") - s.issued_at)
        .to_std()
        .unwrap();
    assert!(
        lifetime <= Duration::from_secs(180),
        "Keystone token lifetime is {lifetime:?}; start it with KS_TOKEN_EXPIRATION=60 (scripts/test.sh does)"
    );
    lifetime
}

async fn sleep_until(t: chrono::DateTime<chrono::Utc>) {
    let wait = (t - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_keystone_token_is_renewed_once_on_401() {
    let config = ClientConfig {
        renew_margin: Some(Duration::ZERO), // only a 401 can make it log in again
        ..ClientConfig::default()
    };
    let client = Arc::new(
        SwiftClient::new(
            lab::labuser_v3(),
            lab::region(None),
            config,
            Default::default(),
        )
        .unwrap(),
    );
    let first = client.session().await.unwrap();
    short_lifetime(&first);
    client.account_info().await.unwrap();
    // Swift's authtoken may accept a token for a moment after its expiry; a
    // couple of seconds later it is refused.
    sleep_until(first.expires_at.unwrap() + chrono::Duration::seconds(2)).await;
    // Ten requests at once with an expired token: each gets a 401, one login.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.account_info().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(client.logins(), 2, "one re-login for the whole burst");
    assert!(!Arc::ptr_eq(&first, &client.session().await.unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn keystone_token_renewed_before_it_expires() {
    let client = lab::client(lab::labuser_v3());
    let first = client.session().await.unwrap();
    let lifetime = short_lifetime(&first);
    // Default margin: a quarter of the lifetime. Wake up inside that window.
    let margin = chrono::Duration::from_std(lifetime / 8).unwrap();
    sleep_until(first.expires_at.unwrap() - margin).await;
    client.account_info().await.unwrap();
    assert_eq!(client.logins(), 2);
    assert!(
        chrono::Utc::now() < first.expires_at.unwrap(),
        "renewed before expiry"
    );
}
