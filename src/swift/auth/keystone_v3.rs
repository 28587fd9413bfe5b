//! Keystone v3: `POST <auth-url>/auth/tokens`, token in `X-Subject-Token`.

use super::{
    AuthVersion, CatalogEndpoint, EndpointFilter, Interface, NameOrId, Session, V3Identity,
    V3Project, choose_endpoint, join_path, parse_keystone_time, post_identity,
};
use crate::swift::{Secret, SwiftError};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

fn default_domain() -> NameOrId {
    NameOrId::Id("default".into())
}

/// The login body. Kept separate from the HTTP call so tests can check its shape.
pub(crate) fn request_body(identity: &V3Identity, project: Option<&V3Project>) -> Value {
    match identity {
        V3Identity::Password {
            user,
            user_domain,
            password,
        } => {
            let mut user_json = user.to_json();
            if let NameOrId::Name(_) = user {
                let domain = user_domain.clone().unwrap_or_else(default_domain);
                user_json["domain"] = domain.to_json();
            }
            user_json["password"] = json!(password.expose());
            let mut body = json!({"auth": {"identity": {
                "methods": ["password"],
                "password": {"user": user_json}
            }}});
            scope(&mut body, project, user_domain.as_ref());
            body
        }
        V3Identity::Token { token } => {
            let mut body = json!({"auth": {"identity": {
                "methods": ["token"],
                "token": {"id": token.expose()}
            }}});
            scope(&mut body, project, None);
            body
        }
        V3Identity::ApplicationCredential {
            credential,
            user,
            user_domain,
            secret,
        } => {
            let mut cred = credential.to_json();
            if let Some(u) = user {
                let mut u_json = u.to_json();
                if let NameOrId::Name(_) = u {
                    u_json["domain"] = user_domain.clone().unwrap_or_else(default_domain).to_json();
                }
                cred["user"] = u_json;
            }
            cred["secret"] = json!(secret.expose());
            json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": cred
            }}})
        }
    }
}

/// Scopes a login to `project`; a project named without a domain is looked up in the
/// user's domain, then in `default`.
fn scope(body: &mut Value, project: Option<&V3Project>, user_domain: Option<&NameOrId>) {
    if let Some(p) = project {
        let mut project_json = p.project.to_json();
        if let NameOrId::Name(_) = p.project {
            let domain = p
                .domain
                .clone()
                .or_else(|| user_domain.cloned())
                .unwrap_or_else(default_domain);
            project_json["domain"] = domain.to_json();
        }
        body["auth"]["scope"] = json!({ "project": project_json });
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Token,
}

#[derive(Deserialize)]
struct Token {
    expires_at: Option<String>,
    issued_at: Option<String>,
    #[serde(default)]
    catalog: Vec<Service>,
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
    interface: String,
    region: Option<String>,
    region_id: Option<String>,
    url: String,
}

/// The object-store endpoints of a v3 catalog, in catalog order.
fn object_store_endpoints(catalog: &[Service]) -> Vec<CatalogEndpoint> {
    catalog
        .iter()
        .filter(|s| s.kind == "object-store")
        .flat_map(|s| s.endpoints.iter())
        .filter_map(|e| {
            Some(CatalogEndpoint {
                region: e.region.clone().or_else(|| e.region_id.clone()),
                interface: e.interface.parse::<Interface>().ok()?,
                url: e.url.clone(),
            })
        })
        .collect()
}

pub(super) async fn authenticate(
    http: &reqwest::Client,
    auth_url: &Url,
    identity: &V3Identity,
    project: Option<&V3Project>,
    filter: &EndpointFilter,
) -> Result<Session, SwiftError> {
    let url = join_path(auth_url, "auth/tokens");
    let resp = post_identity(http, &url, &request_body(identity, project)).await?;
    let invalid = |reason: String| SwiftError::InvalidResponse {
        what: url.to_string(),
        reason,
    };
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(Secret::new)
        .ok_or_else(|| invalid("no X-Subject-Token header".into()))?;
    let body: TokenResponse = resp
        .json()
        .await
        .map_err(|e| invalid(format!("token body is not Keystone v3 JSON: {e}")))?;
    let chosen = choose_endpoint(&object_store_endpoints(&body.token.catalog), filter)?;
    let storage_url = Url::parse(&chosen.url)
        .map_err(|e| invalid(format!("catalog URL {:?}: {e}", chosen.url)))?;
    Ok(Session {
        token,
        storage_url,
        version: AuthVersion::V3,
        region: chosen.region,
        region_matched: chosen.region_matched,
        issued_at: body
            .token
            .issued_at
            .as_deref()
            .and_then(parse_keystone_time)
            .unwrap_or_else(Utc::now),
        expires_at: body
            .token
            .expires_at
            .as_deref()
            .and_then(parse_keystone_time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_body_puts_domains_on_names() {
        let body = request_body(
            &V3Identity::Password {
                user: NameOrId::Name("labuser".into()),
                user_domain: Some(NameOrId::Name("labdomain".into())),
                password: Secret::new("pw"),
            },
            Some(&V3Project {
                project: NameOrId::Name("labproject".into()),
                domain: None,
            }),
        );
        let user = &body["auth"]["identity"]["password"]["user"];
        assert_eq!(user["name"], "labuser");
        assert_eq!(user["domain"]["name"], "labdomain");
        assert_eq!(user["password"], "pw");
        // the project inherits the user's domain when none is given
        assert_eq!(
            body["auth"]["scope"]["project"]["domain"]["name"],
            "labdomain"
        );
    }

    #[test]
    fn password_body_defaults_to_default_domain() {
        let body = request_body(
            &V3Identity::Password {
                user: NameOrId::Name("demo".into()),
                user_domain: None,
                password: Secret::new("pw"),
            },
            Some(&V3Project {
                project: NameOrId::Id("abc".into()),
                domain: None,
            }),
        );
        assert_eq!(
            body["auth"]["identity"]["password"]["user"]["domain"]["id"],
            "default"
        );
        assert_eq!(body["auth"]["scope"]["project"], json!({"id": "abc"}));
    }

    #[test]
    fn application_credential_body() {
        let by_id = request_body(
            &V3Identity::ApplicationCredential {
                credential: NameOrId::Id("ac1".into()),
                user: None,
                user_domain: None,
                secret: Secret::new("s"),
            },
            None,
        );
        let ac = &by_id["auth"]["identity"]["application_credential"];
        assert_eq!(ac, &json!({"id": "ac1", "secret": "s"}));
        assert!(by_id["auth"].get("scope").is_none());

        let by_name = request_body(
            &V3Identity::ApplicationCredential {
                credential: NameOrId::Name("backup".into()),
                user: Some(NameOrId::Name("labuser".into())),
                user_domain: Some(NameOrId::Name("labdomain".into())),
                secret: Secret::new("s"),
            },
            None,
        );
        let ac = &by_name["auth"]["identity"]["application_credential"];
        assert_eq!(ac["name"], "backup");
        assert_eq!(ac["user"]["name"], "labuser");
        assert_eq!(ac["user"]["domain"]["name"], "labdomain");
    }

    #[test]
    fn token_body_is_scoped() {
        let body = request_body(
            &V3Identity::Token {
                token: Secret::new("t"),
            },
            Some(&V3Project {
                project: NameOrId::Name("p".into()),
                domain: None,
            }),
        );
        assert_eq!(
            body["auth"]["identity"],
            json!({"methods": ["token"], "token": {"id": "t"}})
        );
        assert_eq!(
            body["auth"]["scope"]["project"],
            json!({"name": "p", "domain": {"id": "default"}})
        );
    }

    #[test]
    fn catalog_keeps_order_and_reads_region_id() {
        let services: Vec<Service> = serde_json::from_value(json!([
            {"type": "identity", "endpoints": [{"interface": "public", "region": "RegionOne", "url": "http://ks"}]},
            {"type": "object-store", "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": "http://one"},
                {"interface": "weird", "region": "RegionOne", "url": "http://skip"},
                {"interface": "public", "region_id": "RegionTwo", "url": "http://two"}
            ]}
        ]))
        .unwrap();
        let eps = object_store_endpoints(&services);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[1].region.as_deref(), Some("RegionTwo"));
    }
}
