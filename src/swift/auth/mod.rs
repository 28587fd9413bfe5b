//! Authentication: turning credentials into a token and a storage URL.
//!
//! Four ways in, as Duplicati's OpenStack destination and the swift CLI offer them:
//! Keystone v3 (password, application credential or token), Keystone v2.0 (password or
//! Rackspace API key), v1 tempauth, and a token + storage URL made elsewhere.

mod catalog;
mod keystone_v2;
mod keystone_v3;
mod tempauth;

pub use catalog::{CatalogEndpoint, ChosenEndpoint, EndpointFilter, Interface, choose_endpoint};

use crate::swift::{Secret, SwiftError};
use chrono::{DateTime, Utc};
use std::fmt;
use url::Url;

/// A Keystone entity named either by its name or by its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameOrId {
    Name(String),
    Id(String),
}

impl NameOrId {
    /// The JSON object Keystone expects, `{"name": …}` or `{"id": …}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            NameOrId::Name(n) => serde_json::json!({ "name": n }),
            NameOrId::Id(i) => serde_json::json!({ "id": i }),
        }
    }
}

impl fmt::Display for NameOrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameOrId::Name(n) => write!(f, "{n}"),
            NameOrId::Id(i) => write!(f, "id {i}"),
        }
    }
}

/// The secret half of a Keystone v2.0 login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Secret {
    Password(Secret),
    /// Rackspace `RAX-KSKEY:apiKeyCredentials`.
    ApiKey(Secret),
}

/// Who logs in to Keystone v3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Identity {
    Password {
        user: NameOrId,
        /// Needed when the user is named; defaults to the `default` domain id.
        user_domain: Option<NameOrId>,
        password: Secret,
    },
    /// Application credentials carry their own project scope.
    ApplicationCredential {
        credential: NameOrId,
        /// Required with a credential name, as Keystone looks names up per user.
        user: Option<NameOrId>,
        user_domain: Option<NameOrId>,
        secret: Secret,
    },
    /// A token from an earlier login (openstackclient's `--os-token`, clouds.yaml's
    /// `auth_type: token`), exchanged for one scoped to the project. The new token
    /// expires when the old one does, so renewal cannot outlive it.
    Token { token: Secret },
}

/// The project a v3 password token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Project {
    pub project: NameOrId,
    /// Defaults to the user's domain, then to the `default` domain id.
    pub domain: Option<NameOrId>,
}

/// Everything needed to obtain a token and a storage URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    TempAuth {
        auth_url: Url,
        user: String,
        key: Secret,
    },
    KeystoneV2 {
        auth_url: Url,
        username: String,
        secret: V2Secret,
        tenant: Option<NameOrId>,
    },
    KeystoneV3 {
        auth_url: Url,
        identity: V3Identity,
        project: Option<V3Project>,
    },
    /// A token and storage URL obtained elsewhere: nothing to renew it with.
    Token { storage_url: Url, token: Secret },
}

/// Which protocol produced a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthVersion {
    V1,
    V2,
    V3,
    PreAuthenticated,
}

impl fmt::Display for AuthVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthVersion::V1 => "v1 (tempauth)",
            AuthVersion::V2 => "Keystone v2.0",
            AuthVersion::V3 => "Keystone v3",
            AuthVersion::PreAuthenticated => "pre-authenticated token",
        })
    }
}

/// A token good for the storage URL until `expires_at`.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: Secret,
    pub storage_url: Url,
    pub version: AuthVersion,
    /// Region of the chosen catalog endpoint (Keystone only).
    pub region: Option<String>,
    /// False when a region was asked for and the catalog had none of that name.
    pub region_matched: bool,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Credentials {
    /// Whether a new token can be had after this one expires or is refused.
    pub fn can_renew(&self) -> bool {
        !matches!(self, Credentials::Token { .. })
    }

    /// The URL credentials are sent to, for messages (never carries secrets).
    pub fn auth_url(&self) -> &Url {
        match self {
            Credentials::TempAuth { auth_url, .. }
            | Credentials::KeystoneV2 { auth_url, .. }
            | Credentials::KeystoneV3 { auth_url, .. } => auth_url,
            Credentials::Token { storage_url, .. } => storage_url,
        }
    }
}

/// Logs in once. Callers keep the session and call again when it expires.
pub async fn authenticate(
    http: &reqwest::Client,
    credentials: &Credentials,
    filter: &EndpointFilter,
) -> Result<Session, SwiftError> {
    let session = match credentials {
        Credentials::TempAuth {
            auth_url,
            user,
            key,
        } => tempauth::authenticate(http, auth_url, user, key).await?,
        Credentials::KeystoneV2 {
            auth_url,
            username,
            secret,
            tenant,
        } => {
            keystone_v2::authenticate(http, auth_url, username, secret, tenant.as_ref(), filter)
                .await?
        }
        Credentials::KeystoneV3 {
            auth_url,
            identity,
            project,
        } => keystone_v3::authenticate(http, auth_url, identity, project.as_ref(), filter).await?,
        Credentials::Token { storage_url, token } => Session {
            token: token.clone(),
            storage_url: storage_url.clone(),
            version: AuthVersion::PreAuthenticated,
            region: None,
            region_matched: filter.region.is_none(),
            issued_at: Utc::now(),
            expires_at: None,
        },
    };
    log::info!(
        "authenticated with {} at {}: storage URL {}, region {}, expires {}",
        session.version,
        credentials.auth_url(),
        session.storage_url,
        session.region.as_deref().unwrap_or("-"),
        session
            .expires_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "unknown".into())
    );
    Ok(session)
}

/// POSTs a JSON login body to a Keystone URL and returns the response once it is 2xx.
/// A 401 becomes [`SwiftError::AuthFailed`]: the credentials were refused.
pub(crate) async fn post_identity(
    http: &reqwest::Client,
    url: &Url,
    body: &serde_json::Value,
) -> Result<reqwest::Response, SwiftError> {
    let shown = url.as_str();
    let resp = http
        .post(url.clone())
        .json(body)
        .send()
        .await
        .map_err(|e| SwiftError::from_reqwest(shown, e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    if let Some(e) = passing_trouble("POST", shown, status, &text) {
        return Err(e);
    }
    let reason = identity_error_reason(status.as_u16(), &text);
    Err(SwiftError::AuthFailed {
        url: shown.to_string(),
        reason,
    })
}

/// An answer that says nothing about the credentials (a 503 under load, a 429): the
/// HTTP error the client retries like any transient one, not a refusal.
pub(crate) fn passing_trouble(
    method: &str,
    url: &str,
    status: reqwest::StatusCode,
    body: &str,
) -> Option<SwiftError> {
    let e = SwiftError::from_status(method, url, status, body);
    e.is_transient().then_some(e)
}

/// Keystone puts a human message in `{"error": {"message": …}}`; fall back to the status.
fn identity_error_reason(status: u16, body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    let what = match status {
        401 => "credentials refused (HTTP 401)".to_string(),
        403 => "forbidden (HTTP 403)".to_string(),
        404 => "no identity API at this URL (HTTP 404); check the auth URL and version".to_string(),
        s => format!("HTTP {s}"),
    };
    match message {
        Some(m) if !m.is_empty() => format!("{what}: {m}"),
        _ => what,
    }
}

/// Joins a path onto a base URL that may or may not end in `/`.
pub(crate) fn join_path(base: &Url, tail: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}/{}", base.path().trim_end_matches('/'), tail);
    url.set_path(&path);
    url
}

/// Parses Keystone's timestamps: v3 `2026-11-25T10:00:00.000000Z`, v2 `…Z` or with offset.
pub(crate) fn parse_keystone_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_times() {
        let t = parse_keystone_time("2026-11-25T10:00:00.000000Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert!(parse_keystone_time("2026-11-25T10:00:00").is_some());
        assert!(parse_keystone_time("tomorrow").is_none());
    }

    #[test]
    fn join_handles_trailing_slash() {
        let a = Url::parse("http://h:5000/v3/").unwrap();
        let b = Url::parse("http://h:5000/v3").unwrap();
        assert_eq!(
            join_path(&a, "auth/tokens").as_str(),
            "http://h:5000/v3/auth/tokens"
        );
        assert_eq!(
            join_path(&b, "auth/tokens").as_str(),
            "http://h:5000/v3/auth/tokens"
        );
    }

    #[test]
    fn identity_reason_uses_keystone_message() {
        let r = identity_error_reason(
            401,
            r#"{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}"#,
        );
        assert!(
            r.contains("HTTP 401") && r.contains("requires authentication"),
            "{r}"
        );
    }
}
