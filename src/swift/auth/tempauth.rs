//! v1 auth (tempauth, swauth and Rackspace-style v1.0): `GET <auth-url>` with
//! `X-Auth-User` / `X-Auth-Key`, answered by `X-Storage-Url` and `X-Auth-Token`.

use super::{AuthVersion, Session};
use crate::swift::{Secret, SwiftError};
use chrono::Utc;
use url::Url;

pub(super) async fn authenticate(
    http: &reqwest::Client,
    auth_url: &Url,
    user: &str,
    key: &Secret,
) -> Result<Session, SwiftError> {
    let shown = auth_url.as_str();
    let resp = http
        .get(auth_url.clone())
        .header("X-Auth-User", user)
        .header("X-Auth-Key", key.header_value())
        .send()
        .await
        .map_err(|e| SwiftError::from_reqwest(shown, e))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        if let Some(e) = super::passing_trouble("GET", shown, status, &text) {
            return Err(e);
        }
        let reason = match status.as_u16() {
            401 | 403 => format!("credentials refused (HTTP {})", status.as_u16()),
            404 => "no v1 auth at this URL (HTTP 404); check the auth URL and version".into(),
            s => format!("HTTP {s}"),
        };
        return Err(SwiftError::AuthFailed {
            url: shown.to_string(),
            reason,
        });
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let invalid = |reason: &str| SwiftError::InvalidResponse {
        what: shown.to_string(),
        reason: reason.to_string(),
    };
    let token = header("x-auth-token")
        .or_else(|| header("x-storage-token"))
        .ok_or_else(|| invalid("no X-Auth-Token header"))?;
    let storage_url = header("x-storage-url").ok_or_else(|| invalid("no X-Storage-Url header"))?;
    let storage_url =
        Url::parse(&storage_url).map_err(|_| invalid("X-Storage-Url is not a URL"))?;
    let now = Utc::now();
    // tempauth tells the seconds left; other v1 servers say nothing and we learn of
    // expiry from a 401.
    let expires_at = header("x-auth-token-expires")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(|secs| now + chrono::Duration::milliseconds((secs * 1000.0) as i64));
    Ok(Session {
        token: Secret::new(token),
        storage_url,
        version: AuthVersion::V1,
        region: None,
        region_matched: true,
        issued_at: now,
        expires_at,
    })
}
