//! Where the local test Swift + Keystone live (started by `scripts/swift-up.sh`) and
//! how to log in to them. Every value can be overridden from the environment so the
//! same tests can run against another cluster.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use swiftmount::swift::{
    ClientConfig, ContainerName, Credentials, EndpointFilter, Interface, ListEntry, ListQuery,
    NameOrId, ObjectName, ObjectStore, Secret, SwiftClient, V3Identity, V3Project,
};
use url::Url;

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

pub fn keystone_v3() -> String {
    env_or("SWIFTMOUNT_TEST_KEYSTONE", "http://127.0.0.1:5000/v3")
}

pub fn tempauth_url() -> String {
    env_or(
        "SWIFTMOUNT_TEST_TEMPAUTH",
        "http://127.0.0.1:8080/auth/v1.0",
    )
}

/// The key of tempauth's test:tester.
pub fn tempauth_key() -> String {
    env_or("SWIFTMOUNT_TEST_TEMPAUTH_KEY", "testing")
}

/// Port of the RegionOne / RegionTwo proxy, to tell which endpoint was chosen.
pub const REGION_ONE_PORT: u16 = 8080;
pub const REGION_TWO_PORT: u16 = 8081;

pub fn labuser_password() -> String {
    env_or("SWIFTMOUNT_TEST_LAB_PASSWORD", "lab-secret")
}

/// labuser in the non-default domain `labdomain`, project `labproject`.
pub fn labuser_v3() -> Credentials {
    Credentials::KeystoneV3 {
        auth_url: Url::parse(&keystone_v3()).unwrap(),
        identity: V3Identity::Password {
            user: NameOrId::Name("labuser".into()),
            user_domain: Some(NameOrId::Name("labdomain".into())),
            password: Secret::new(labuser_password()),
        },
        project: Some(V3Project {
            project: NameOrId::Name("labproject".into()),
            domain: Some(NameOrId::Name("labdomain".into())),
        }),
    }
}

pub fn tempauth() -> Credentials {
    Credentials::TempAuth {
        auth_url: Url::parse(&tempauth_url()).unwrap(),
        user: "test:tester".into(),
        key: Secret::new(tempauth_key()),
    }
}

pub fn region(name: Option<&str>) -> EndpointFilter {
    EndpointFilter {
        region: name.map(str::to_string),
        interface: Interface::Public,
    }
}

pub fn client(creds: Credentials) -> Arc<SwiftClient> {
    Arc::new(
        SwiftClient::new(
            creds,
            region(None),
            ClientConfig::default(),
            Default::default(),
        )
        .unwrap(),
    )
}

/// A name no other test (or earlier run) uses.
pub fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "t-{tag}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

pub fn obj(name: &str) -> ObjectName {
    ObjectName::new(name).unwrap()
}

/// A fresh container for one test; `cleanup` empties and deletes it.
pub struct TestContainer {
    pub client: Arc<SwiftClient>,
    pub name: ContainerName,
}

impl TestContainer {
    pub async fn new(client: Arc<SwiftClient>, tag: &str) -> Self {
        let name = ContainerName::new(unique(tag)).unwrap();
        client.create_container(&name).await.unwrap();
        TestContainer { client, name }
    }

    /// The `<name>_segments` container that large objects written through a mount
    /// leave their segments in.
    pub fn segments(&self) -> ContainerName {
        ContainerName::new(format!("{}_segments", self.name)).unwrap()
    }

    /// Empties and deletes the container, and its [`Self::segments`] container;
    /// panics if any of that fails.
    pub async fn cleanup(self) {
        self.remove(true).await;
    }

    /// [`Self::cleanup`] that goes on past errors, for the end of a test that may
    /// have failed (its own panic is the one to show).
    pub async fn cleanup_best_effort(&self) {
        self.remove(false).await;
    }

    async fn remove(&self, strict: bool) {
        let segments = self.segments();
        for (c, required) in [(&self.name, true), (&segments, false)] {
            let rows = match self.client.list_all(c, &ListQuery::default()).await {
                Ok(rows) => rows,
                Err(swiftmount::swift::SwiftError::NotFound(_)) if !required => continue,
                Err(_) if !strict && !required => continue,
                Err(e) => panic!("listing {c}: {e}"),
            };
            for row in rows {
                if let ListEntry::Object(o) = row {
                    let deleted = self.client.delete_object(c, &obj(&o.name)).await;
                    if strict {
                        deleted.unwrap();
                    }
                }
            }
            let deleted = self.client.delete_container(c).await;
            if strict {
                deleted.unwrap();
            }
        }
    }
}

/// POSTs to Keystone, asking again when it dropped the connection or answered 5xx:
/// it is shared by the whole suite and, on a loaded 2-core machine, now and then does.
pub async fn keystone_post(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match http.post(url).json(body).send().await {
            Ok(r) if !r.status().is_server_error() || attempt >= 4 => return r,
            Err(e) if attempt >= 4 => panic!("POST {url}: {e}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(300)).await,
        }
    }
}

/// Creates an application credential for labuser through Keystone's API.
pub async fn make_app_credential(name: &str, secret: &str) -> (String, String, String) {
    make_app_credential_until(name, secret, None).await
}

/// [`make_app_credential`] that expires at `expires_at` (ISO 8601, UTC).
pub async fn make_app_credential_until(
    name: &str,
    secret: &str,
    expires_at: Option<&str>,
) -> (String, String, String) {
    let http = reqwest::Client::new();
    let ks = keystone_v3();
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "labuser", "domain": {"name": "labdomain"}, "password": labuser_password()}}},
        "scope": {"project": {"name": "labproject", "domain": {"name": "labdomain"}}}}});
    let resp = keystone_post(&http, &format!("{ks}/auth/tokens"), &body).await;
    assert_eq!(resp.status(), 201);
    let token = resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let doc: serde_json::Value = resp.json().await.unwrap();
    let user_id = doc["token"]["user"]["id"].as_str().unwrap().to_string();
    // The role is named: without it Keystone checks every role of the token and has
    // been seen (rarely, under load) to claim a role labuser does not have (404).
    let mut body = serde_json::json!({"application_credential": {
        "name": name, "secret": secret, "roles": [{"name": "member"}]}});
    if let Some(t) = expires_at {
        body["application_credential"]["expires_at"] = t.into();
    }
    let mut tries = 0;
    let doc: serde_json::Value = loop {
        let resp = http
            .post(format!("{ks}/users/{user_id}/application_credentials"))
            .header("X-Auth-Token", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        if status == 201 {
            break resp.json().await.unwrap();
        }
        tries += 1;
        let text = resp.text().await.unwrap_or_default();
        assert!(tries < 4 && status != 409, "HTTP {status}: {text}");
        eprintln!("creating application credential {name}: HTTP {status} ({text}); again");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    let id = doc["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, user_id, token)
}

pub async fn delete_app_credential(id: &str, user_id: &str, token: &str) {
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/users/{user_id}/application_credentials/{id}",
            keystone_v3()
        ))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}
