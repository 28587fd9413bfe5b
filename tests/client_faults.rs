//! Retries, token renewal on 401 and timeouts, with faults injected by an in-process
//! proxy in front of the real Swift (tempauth logs in through the proxy too, so the
//! storage URL it hands out points at the proxy).

mod common;

use bytes::Bytes;
use common::fault_proxy::FaultProxy;
use common::lab::{self, obj};
use common::metrics::Scrape;
use std::sync::Arc;
use std::time::Duration;
use swiftmount::metrics::Metrics;
use swiftmount::swift::{
    ClientConfig, ContainerName, Credentials, ListQuery, ObjectStore, Secret, SwiftClient,
    SwiftError,
};
use url::Url;

async fn proxied_client(config: ClientConfig) -> (FaultProxy, Arc<SwiftClient>) {
    proxied_client_counted(config, Arc::default()).await
}

/// [`proxied_client`] counting into `metrics`.
async fn proxied_client_counted(
    config: ClientConfig,
    metrics: Arc<Metrics>,
) -> (FaultProxy, Arc<SwiftClient>) {
    let upstream = Url::parse(&lab::tempauth_url()).unwrap();
    let proxy = FaultProxy::start(&upstream[..url::Position::BeforePath]).await;
    let creds = Credentials::TempAuth {
        auth_url: Url::parse(&format!("{}{}", proxy.base_url(), upstream.path())).unwrap(),
        user: "test:tester".into(),
        key: Secret::new(lab::env_or("SWIFTMOUNT_TEST_TEMPAUTH_KEY", "testing")),
    };
    let config = ClientConfig {
        retry_base_delay: Duration::from_millis(10),
        ..config
    };
    let client = Arc::new(SwiftClient::new(creds, lab::region(None), config, metrics).unwrap());
    let session = client.session().await.unwrap();
    assert!(
        session.storage_url.as_str().starts_with(&proxy.base_url()),
        "storage URL must go through the proxy: {}",
        session.storage_url
    );
    (proxy, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_are_retried_until_success() {
    let metrics = Arc::new(Metrics::default());
    let (proxy, client) = proxied_client_counted(ClientConfig::default(), metrics.clone()).await;
    let c = ContainerName::new(lab::unique("faults")).unwrap();
    proxy.fail_next(2, 503);
    client.create_container(&c).await.unwrap();
    proxy.fail_next(3, 500);
    client
        .put_raw(&c, &obj("a"), Bytes::from_static(b"hello"), &[])
        .await
        .unwrap();
    proxy.fail_next(2, 502);
    assert_eq!(
        client.get_range(&c, &obj("a"), 0..5, None).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    proxy.fail_next(4, 504);
    assert_eq!(
        client
            .list_all(&c, &ListQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let (_, injected) = proxy.counts();
    assert_eq!(injected, 11);
    // every retry counted once, and every answer by method and status
    let counted = Scrape(metrics.text());
    assert_eq!(counted.get("swiftmount_retries_total"), 11.0);
    let requests = |method, status| {
        counted.sum(
            "swiftmount_requests_total",
            &[("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("PUT", "503"), 2.0);
    assert_eq!(requests("PUT", "500"), 3.0);
    assert_eq!(requests("PUT", "201"), 2.0, "the container and the object");
    assert_eq!(requests("GET", "502") + requests("GET", "504"), 6.0);
    assert!(counted.get("swiftmount_sent_bytes_total") >= 5.0);
    assert!(counted.get("swiftmount_received_bytes_total") >= 5.0);
    assert_eq!(counted.get("swiftmount_uploads_in_flight"), 0.0);
    assert_eq!(counted.get("swiftmount_first_byte_seconds_count"), 1.0);
    // After a failed attempt, a 404 is taken as "an earlier attempt deleted it"
    // (the answer may have been lost); without one, a 404 is an error.
    proxy.lose_answer_next(1);
    client.delete_object(&c, &obj("a")).await.unwrap();
    let err = client.head_object(&c, &obj("a")).await.unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    let err = client.delete_object(&c, &obj("a")).await.unwrap_err();
    assert!(matches!(err, SwiftError::NotFound(_)), "{err:?}");
    client.delete_container(&c).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_run_out_with_a_clear_error() {
    let config = ClientConfig {
        retries: 2,
        ..ClientConfig::default()
    };
    let (proxy, client) = proxied_client(config).await;
    proxy.fail_next(3, 503);
    let err = client.account_info().await.unwrap_err();
    assert!(
        matches!(err, SwiftError::Http { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(proxy.counts().1, 3, "1 try + 2 retries");
    // client errors are not retried
    proxy.fail_next(5, 400);
    client.account_info().await.unwrap_err();
    assert_eq!(proxy.counts().1, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_logs_in_again_once() {
    let (proxy, client) = proxied_client(ClientConfig::default()).await;
    assert_eq!(client.logins(), 1);
    proxy.fail_next(1, 401);
    client.account_info().await.unwrap();
    assert_eq!(client.logins(), 2);
    // refused again at the new login: an error, not a loop
    proxy.fail_next(2, 401);
    let err = client.account_info().await.unwrap_err();
    assert!(matches!(err, SwiftError::AuthFailed { .. }), "{err:?}");
    assert_eq!(proxy.counts().1, 3);
    client.account_info().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_response_times_out_and_is_retried() {
    let config = ClientConfig {
        read_timeout: Duration::from_secs(2),
        retries: 0,
        ..ClientConfig::default()
    };
    let (proxy, client) = proxied_client(config).await;
    proxy.stall_next(1, Duration::from_secs(8));
    let err = client.account_info().await.unwrap_err();
    assert!(matches!(err, SwiftError::Timeout { .. }), "{err:?}");

    let config = ClientConfig {
        read_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    let (proxy, client) = proxied_client(config).await;
    proxy.stall_next(1, Duration::from_secs(8));
    client.account_info().await.unwrap();
    assert_eq!(proxy.counts().1, 1);
}

/// A Keystone that drops a connection or answers 503 under load has not refused the
/// credentials: the login is asked again. A 401 is final and asked once.
#[tokio::test(flavor = "multi_thread")]
async fn passing_identity_trouble_is_retried_refusal_is_not() {
    let upstream = Url::parse(&lab::keystone_v3()).unwrap();
    let proxy = FaultProxy::start(&upstream[..url::Position::BeforePath]).await;
    let through_proxy = |creds: Credentials| match creds {
        Credentials::KeystoneV3 {
            identity, project, ..
        } => Credentials::KeystoneV3 {
            auth_url: Url::parse(&format!("{}{}", proxy.base_url(), upstream.path())).unwrap(),
            identity,
            project,
        },
        other => panic!("not v3: {other:?}"),
    };
    let config = ClientConfig {
        retry_base_delay: Duration::from_millis(10),
        ..ClientConfig::default()
    };
    let client = SwiftClient::new(
        through_proxy(lab::labuser_v3()),
        lab::region(None),
        config.clone(),
        Default::default(),
    )
    .unwrap();
    proxy.lose_answer_next(1);
    client.session().await.unwrap();
    assert_eq!(proxy.counts(), (2, 1), "one dropped answer, one good login");
    proxy.fail_next(2, 503);
    let client = SwiftClient::new(
        through_proxy(lab::labuser_v3()),
        lab::region(None),
        config.clone(),
        Default::default(),
    )
    .unwrap();
    client.session().await.unwrap();
    assert_eq!(proxy.counts(), (5, 3));

    let mut refused = through_proxy(lab::labuser_v3());
    if let Credentials::KeystoneV3 {
        identity: swiftmount::swift::V3Identity::Password { password, .. },
        ..
    } = &mut refused
    {
        *password = Secret::new("wrong-password-4711".to_string());
    }
    let client = SwiftClient::new(refused, lab::region(None), config, Default::default()).unwrap();
    let err = client.session().await.unwrap_err();
    assert!(matches!(err, SwiftError::AuthFailed { .. }), "{err:?}");
    assert_eq!(proxy.counts(), (6, 3), "a refusal is not asked again");
}
