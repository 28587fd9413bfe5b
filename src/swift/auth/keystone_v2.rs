//! Keystone v2.0: `POST <auth-url>/tokens`, where the auth URL ends in `/v2.0`.
//! Still what many Swift providers (and Duplicati's Rackspace setup) speak.

use super::{
    AuthVersion, CatalogEndpoint, EndpointFilter, Interface, NameOrId, Session, V2Secret,
    choose_endpoint, join_path, parse_keystone_time, post_identity,
};
use crate::swift::{Secret, SwiftError};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// The login body; an API key wins over a password, as in Duplicati.
pub(crate) fn request_body(username: &str, secret: &V2Secret, tenant: Option<&NameOrId>) -> Value {
    let mut body = match secret {
        V2Secret::Password(p) => json!({"auth": {"passwordCredentials": {
            "username": username, "password": p.expose()
        }}}),
        V2Secret::ApiKey(k) => json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {
            "username": username, "apiKey": k.expose()
        }}}),
    };
    match tenant {
        Some(NameOrId::Name(n)) => body["auth"]["tenantName"] = json!(n),
        Some(NameOrId::Id(i)) => body["auth"]["tenantId"] = json!(i),
        None => {}
    }
    body
}

#[derive(Deserialize)]
struct AccessResponse {
    access: Access,
}

#[derive(Deserialize)]
struct Access {
    token: Token,
    #[serde(default, rename = "serviceCatalog")]
    service_catalog: Vec<Service>,
}

#[derive(Deserialize)]
struct Token {
    id: String,
    expires: Option<String>,
    issued_at: Option<String>,
}

#[derive(Deserialize)]
struct Service {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    region: Option<String>,
    #[serde(rename = "publicURL")]
    public_url: Option<String>,
    #[serde(rename = "internalURL")]
    internal_url: Option<String>,
    #[serde(rename = "adminURL")]
    admin_url: Option<String>,
}

/// v2 lists one entry per region carrying all three URLs; flatten it to v3's shape so
/// one selection rule serves both.
fn object_store_endpoints(catalog: &[Service]) -> Vec<CatalogEndpoint> {
    let mut out = Vec::new();
    for e in catalog
        .iter()
        .filter(|s| s.kind == "object-store")
        .flat_map(|s| s.endpoints.iter())
    {
        for (interface, url) in [
            (Interface::Public, &e.public_url),
            (Interface::Internal, &e.internal_url),
            (Interface::Admin, &e.admin_url),
        ] {
            if let Some(url) = url {
                out.push(CatalogEndpoint {
                    region: e.region.clone(),
                    interface,
                    url: url.clone(),
                });
            }
        }
    }
    out
}

pub(super) async fn authenticate(
    http: &reqwest::Client,
    auth_url: &Url,
    username: &str,
    secret: &V2Secret,
    tenant: Option<&NameOrId>,
    filter: &EndpointFilter,
) -> Result<Session, SwiftError> {
    let url = join_path(auth_url, "tokens");
    let resp = post_identity(http, &url, &request_body(username, secret, tenant)).await?;
    let body: AccessResponse = resp.json().await.map_err(|e| SwiftError::InvalidResponse {
        what: url.to_string(),
        reason: format!("token body is not Keystone v2.0 JSON: {e}"),
    })?;
    let chosen = choose_endpoint(
        &object_store_endpoints(&body.access.service_catalog),
        filter,
    )?;
    let storage_url = Url::parse(&chosen.url).map_err(|e| SwiftError::InvalidResponse {
        what: url.to_string(),
        reason: format!("catalog URL {:?}: {e}", chosen.url),
    })?;
    let token = body.access.token;
    Ok(Session {
        token: Secret::new(token.id),
        storage_url,
        version: AuthVersion::V2,
        region: chosen.region,
        region_matched: chosen.region_matched,
        issued_at: token
            .issued_at
            .as_deref()
            .and_then(parse_keystone_time)
            .unwrap_or_else(Utc::now),
        expires_at: token.expires.as_deref().and_then(parse_keystone_time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_body() {
        let b = request_body(
            "demo",
            &V2Secret::Password(Secret::new("pw")),
            Some(&NameOrId::Name("demo".into())),
        );
        assert_eq!(
            b,
            json!({"auth": {"passwordCredentials": {"username": "demo", "password": "pw"}, "tenantName": "demo"}})
        );
    }

    #[test]
    fn api_key_body_without_tenant() {
        let b = request_body("demo", &V2Secret::ApiKey(Secret::new("k")), None);
        assert_eq!(
            b,
            json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": "demo", "apiKey": "k"}}})
        );
    }

    #[test]
    fn tenant_id_body() {
        let b = request_body(
            "demo",
            &V2Secret::Password(Secret::new("pw")),
            Some(&NameOrId::Id("t1".into())),
        );
        assert_eq!(b["auth"]["tenantId"], "t1");
    }

    #[test]
    fn catalog_flattens_interfaces() {
        let services: Vec<Service> = serde_json::from_value(json!([{
            "type": "object-store",
            "endpoints": [
                {"region": "RegionOne", "publicURL": "http://one", "internalURL": "http://one-i"},
                {"region": "RegionTwo", "publicURL": "http://two"}
            ]
        }]))
        .unwrap();
        let eps = object_store_endpoints(&services);
        assert_eq!(eps.len(), 3);
        let f = EndpointFilter {
            region: Some("regiontwo".into()),
            interface: Interface::Public,
        };
        assert_eq!(choose_endpoint(&eps, &f).unwrap().url, "http://two");
    }
}
