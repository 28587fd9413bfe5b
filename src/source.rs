//! Where to mount from: Duplicati's `openstack://` URL, flags, `OS_*` variables and a
//! clouds.yaml cloud, merged with the precedence flag > URL > environment > cloud, then
//! checked and turned into the Swift layer's typed credentials.

use crate::swift::{
    ContainerName, Credentials, EndpointFilter, Interface, NameOrId, Secret, V2Secret, V3Identity,
    V3Project,
};
use percent_encoding::percent_decode_str;
use std::path::PathBuf;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("malformed source {source_text:?}: {reason}")]
    Malformed { source_text: String, reason: String },
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Cloud(#[from] crate::clouds::CloudError),
    #[error("cannot read {what} from {path}: {reason}")]
    SecretFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

/// Every setting a source can carry, each optional; one value of this per origin
/// (flags, URL, environment, clouds.yaml) before they are merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub auth_url: Option<String>,
    pub version: Option<String>,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: Option<Secret>,
    pub api_key: Option<Secret>,
    pub tenant_name: Option<String>,
    pub tenant_id: Option<String>,
    /// Duplicati's `openstack-domain-name`: user and project domain at once.
    pub domain_name: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub region: Option<String>,
    pub interface: Option<String>,
    pub app_cred_id: Option<String>,
    pub app_cred_name: Option<String>,
    pub app_cred_secret: Option<Secret>,
    pub storage_url: Option<String>,
    pub token: Option<Secret>,
}

macro_rules! merge_fields {
    ($hi:ident, $lo:ident, $($f:ident),*) => {
        Settings { $($f: $hi.$f.or($lo.$f)),* }
    };
}

impl Settings {
    /// Fields set in `self` win over `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        let hi = self;
        merge_fields!(
            hi,
            lower,
            auth_url,
            version,
            username,
            user_id,
            password,
            api_key,
            tenant_name,
            tenant_id,
            domain_name,
            user_domain_name,
            user_domain_id,
            project_domain_name,
            project_domain_id,
            region,
            interface,
            app_cred_id,
            app_cred_name,
            app_cred_secret,
            storage_url,
            token
        )
    }

    /// The `OS_*` and `ST_*` variables of python-swiftclient and openstackclient.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Settings {
        let var = |names: &[&str]| names.iter().find_map(|n| get(n).filter(|v| !v.is_empty()));
        let secret = |names: &[&str]| var(names).map(Secret::new);
        let st_auth = var(&["ST_AUTH"]);
        Settings {
            version: var(&["OS_IDENTITY_API_VERSION", "OS_AUTH_VERSION"])
                .or_else(|| st_auth.as_ref().map(|_| "1".to_string())),
            auth_url: var(&["OS_AUTH_URL"]).or(st_auth),
            username: var(&["OS_USERNAME", "ST_USER"]),
            user_id: var(&["OS_USER_ID"]),
            password: secret(&["OS_PASSWORD", "ST_KEY"]),
            api_key: secret(&["OS_API_KEY"]),
            tenant_name: var(&["OS_PROJECT_NAME", "OS_TENANT_NAME"]),
            tenant_id: var(&["OS_PROJECT_ID", "OS_TENANT_ID"]),
            domain_name: var(&["OS_DOMAIN_NAME"]),
            user_domain_name: var(&["OS_USER_DOMAIN_NAME"]),
            user_domain_id: var(&["OS_USER_DOMAIN_ID"]),
            project_domain_name: var(&["OS_PROJECT_DOMAIN_NAME"]),
            project_domain_id: var(&["OS_PROJECT_DOMAIN_ID"]),
            region: var(&["OS_REGION_NAME"]),
            interface: var(&["OS_INTERFACE", "OS_ENDPOINT_TYPE"]),
            app_cred_id: var(&["OS_APPLICATION_CREDENTIAL_ID"]),
            app_cred_name: var(&["OS_APPLICATION_CREDENTIAL_NAME"]),
            app_cred_secret: secret(&["OS_APPLICATION_CREDENTIAL_SECRET"]),
            storage_url: var(&["OS_STORAGE_URL"]),
            token: secret(&["OS_AUTH_TOKEN"]),
        }
    }
}

/// A container and a prefix inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub container: ContainerName,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

/// Splits a SOURCE argument: `openstack://<container>/<prefix>?<options>` or
/// `<container>[/<prefix>]`. Percent-escapes in the container and prefix are decoded.
pub fn parse_source(text: &str) -> Result<(Location, Settings), SourceError> {
    let malformed = |reason: &str| SourceError::Malformed {
        source_text: redact(text),
        reason: reason.to_string(),
    };
    let (rest, query) = if let Some(rest) = text.strip_prefix("openstack://") {
        match rest.split_once('?') {
            Some((path, q)) => (path, Some(q)),
            None => (rest, None),
        }
    } else if text.contains("://") {
        return Err(malformed("the only URL scheme understood is openstack://"));
    } else {
        (text, None)
    };
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| malformed("percent-escapes do not decode to UTF-8"))
    };
    let container = decode(container)?;
    if container.is_empty() {
        return Err(malformed("no container name"));
    }
    let container = ContainerName::new(container).map_err(|e| malformed(&e.to_string()))?;
    let mut prefix = decode(prefix)?;
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    if prefix.split('/').any(|seg| seg == "." || seg == "..") || prefix.contains("//") {
        return Err(malformed("the prefix has an empty, '.' or '..' segment"));
    }
    let settings = match query {
        Some(q) => settings_from_query(q).map_err(|r| malformed(&r))?,
        None => Settings::default(),
    };
    Ok((Location { container, prefix }, settings))
}

/// Duplicati's option names, as they appear in its storage URLs.
fn settings_from_query(query: &str) -> Result<Settings, String> {
    let mut s = Settings::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "auth-username" => s.username = Some(value),
            "auth-password" => s.password = Some(Secret::new(value)),
            "openstack-tenant-name" => s.tenant_name = Some(value),
            "openstack-tenant-id" => s.tenant_id = Some(value),
            "openstack-authuri" => s.auth_url = Some(value),
            "openstack-version" => s.version = Some(value),
            "openstack-domain-name" => s.domain_name = Some(value),
            "openstack-user-domain-name" => s.user_domain_name = Some(value),
            "openstack-project-domain-name" => s.project_domain_name = Some(value),
            "openstack-region" => s.region = Some(value),
            "openstack-interface" => s.interface = Some(value),
            "openstack-apikey" => s.api_key = Some(Secret::new(value)),
            "openstack-application-credential-id" => s.app_cred_id = Some(value),
            "openstack-application-credential-name" => s.app_cred_name = Some(value),
            "openstack-application-credential-secret" => {
                s.app_cred_secret = Some(Secret::new(value))
            }
            "openstack-storage-url" => s.storage_url = Some(value),
            "auth-token" => s.token = Some(Secret::new(value)),
            other => return Err(format!("unknown option {other:?} in the URL")),
        }
    }
    Ok(s)
}

/// The source text with every query value hidden, for error messages.
fn redact(text: &str) -> String {
    match text.split_once('?') {
        Some((base, q)) => {
            let keys: Vec<String> = q
                .split('&')
                .map(|kv| format!("{}=…", kv.split('=').next().unwrap_or_default()))
                .collect();
            format!("{base}?{}", keys.join("&"))
        }
        None => text.to_string(),
    }
}

/// Reads a secret from a file: the first line, without its line ending.
pub fn read_secret_file(what: &'static str, path: &std::path::Path) -> Result<Secret, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|e| SourceError::SecretFile {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(SourceError::SecretFile {
            what,
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok(Secret::new(line))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
    V3,
}

fn parse_url(what: &str, text: &str) -> Result<Url, SourceError> {
    let url = Url::parse(text)
        .map_err(|e| SourceError::Invalid(format!("{what} {text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SourceError::Invalid(format!(
            "{what} {text:?} must start with http:// or https://"
        )));
    }
    Ok(url)
}

/// An auth URL with no path gets the version's usual one, so `http://host:5000` works.
fn with_default_path(mut url: Url, version: Version) -> Url {
    if url.path().trim_matches('/').is_empty() {
        url.set_path(match version {
            Version::V1 => "/auth/v1.0",
            Version::V2 => "/v2.0",
            Version::V3 => "/v3",
        });
    }
    url
}

fn infer_version(s: &Settings, auth_url: &Url) -> Result<Version, SourceError> {
    if let Some(v) = &s.version {
        return match v.trim().to_ascii_lowercase().trim_start_matches('v') {
            "1" | "1.0" => Ok(Version::V1),
            "2" | "2.0" => Ok(Version::V2),
            "3" => Ok(Version::V3),
            _ => Err(SourceError::Invalid(format!(
                "unknown openstack-version {v:?}: use v1, v2 or v3"
            ))),
        };
    }
    let path = auth_url.path().trim_end_matches('/');
    // Duplicati: an auth URI ending in /v3 means v3, anything else v2.
    Ok(
        if path.ends_with("/v3") || s.app_cred_id.is_some() || s.app_cred_name.is_some() {
            Version::V3
        } else if path.ends_with("/v1.0") || path.ends_with("/auth") {
            Version::V1
        } else {
            Version::V2
        },
    )
}

fn name_or_id(name: &Option<String>, id: &Option<String>) -> Option<NameOrId> {
    id.clone()
        .map(NameOrId::Id)
        .or_else(|| name.clone().map(NameOrId::Name))
}

/// Checks merged settings and builds the credentials and endpoint filter.
pub fn resolve(s: &Settings) -> Result<(Credentials, EndpointFilter), SourceError> {
    let filter = EndpointFilter {
        region: s.region.clone(),
        interface: match &s.interface {
            Some(i) => i.parse::<Interface>().map_err(SourceError::Invalid)?,
            None => Interface::Public,
        },
    };
    if let (Some(storage_url), Some(token)) = (&s.storage_url, &s.token) {
        return Ok((
            Credentials::Token {
                storage_url: parse_url("storage URL", storage_url)?,
                token: token.clone(),
            },
            filter,
        ));
    }
    let auth_url = s.auth_url.as_deref().ok_or_else(|| {
        SourceError::Missing(
            "no auth URL: give openstack-authuri in the URL, --openstack-authuri, or OS_AUTH_URL \
             (or a storage URL and token)"
                .into(),
        )
    })?;
    let auth_url = parse_url("auth URL", auth_url)?;
    let version = infer_version(s, &auth_url)?;
    let auth_url = with_default_path(auth_url, version);
    let need_user = || {
        s.username.clone().ok_or_else(|| {
            SourceError::Missing(
                "no username: give auth-username, --auth-username or OS_USERNAME".into(),
            )
        })
    };
    let need_password = |what: &str| {
        s.password.clone().ok_or_else(|| {
            SourceError::Missing(format!(
                "no password for {what}: give it in OS_PASSWORD, --auth-password-file, or auth-password"
            ))
        })
    };
    let creds = match version {
        Version::V1 => Credentials::TempAuth {
            auth_url,
            user: need_user()?,
            key: match &s.api_key {
                Some(k) => k.clone(),
                None => need_password("v1 auth")?,
            },
        },
        Version::V2 => Credentials::KeystoneV2 {
            auth_url,
            username: need_user()?,
            secret: match &s.api_key {
                Some(k) => V2Secret::ApiKey(k.clone()),
                None => V2Secret::Password(need_password("Keystone v2")?),
            },
            tenant: name_or_id(&s.tenant_name, &s.tenant_id),
        },
        Version::V3 => {
            let user_domain = name_or_id(
                &s.user_domain_name.clone().or_else(|| s.domain_name.clone()),
                &s.user_domain_id,
            );
            let identity = if s.app_cred_id.is_some() || s.app_cred_name.is_some() {
                let secret = s.app_cred_secret.clone().ok_or_else(|| {
                    SourceError::Missing(
                        "no application credential secret: give OS_APPLICATION_CREDENTIAL_SECRET \
                         or --openstack-application-credential-secret-file"
                            .into(),
                    )
                })?;
                let user = name_or_id(&s.username, &s.user_id);
                if s.app_cred_id.is_none() && user.is_none() {
                    return Err(SourceError::Missing(
                        "an application credential given by name needs the username too".into(),
                    ));
                }
                V3Identity::ApplicationCredential {
                    credential: name_or_id(&s.app_cred_name, &s.app_cred_id)
                        .expect("checked above"),
                    user,
                    user_domain,
                    secret,
                }
            } else if let (Some(token), None) = (&s.token, &s.password) {
                V3Identity::Token {
                    token: token.clone(),
                }
            } else {
                let user = match name_or_id(&s.username, &s.user_id) {
                    Some(u) => u,
                    None => NameOrId::Name(need_user()?),
                };
                V3Identity::Password {
                    user,
                    user_domain: user_domain.clone(),
                    password: need_password("Keystone v3")?,
                }
            };
            let project = name_or_id(&s.tenant_name, &s.tenant_id).map(|project| V3Project {
                project,
                domain: name_or_id(
                    &s.project_domain_name
                        .clone()
                        .or_else(|| s.domain_name.clone()),
                    &s.project_domain_id,
                ),
            });
            Credentials::KeystoneV3 {
                auth_url,
                identity,
                project,
            }
        }
    };
    Ok((creds, filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUPLICATI: &str = "openstack://backups/host%201/daily?auth-username=labuser&auth-password=p%26w\
        &openstack-tenant-name=labproject&openstack-authuri=http%3A%2F%2F127.0.0.1%3A5000%2Fv3\
        &openstack-version=v3&openstack-domain-name=labdomain&openstack-region=RegionTwo";

    #[test]
    fn duplicati_url_v3() {
        let (loc, s) = parse_source(DUPLICATI).unwrap();
        assert_eq!(loc.container.as_str(), "backups");
        assert_eq!(loc.prefix, "host 1/daily/");
        assert_eq!(s.password.as_ref().unwrap().expose(), "p&w");
        let (creds, filter) = resolve(&s).unwrap();
        assert_eq!(filter.region.as_deref(), Some("RegionTwo"));
        let Credentials::KeystoneV3 {
            auth_url,
            identity,
            project,
        } = creds
        else {
            panic!()
        };
        assert_eq!(auth_url.as_str(), "http://127.0.0.1:5000/v3");
        assert_eq!(
            identity,
            V3Identity::Password {
                user: NameOrId::Name("labuser".into()),
                user_domain: Some(NameOrId::Name("labdomain".into())),
                password: Secret::new("p&w"),
            }
        );
        assert_eq!(
            project,
            Some(V3Project {
                project: NameOrId::Name("labproject".into()),
                domain: Some(NameOrId::Name("labdomain".into()))
            })
        );
    }

    #[test]
    fn v2_api_key_wins_over_password() {
        let s = Settings {
            auth_url: Some("https://identity.example.com/v2.0".into()),
            username: Some("u".into()),
            password: Some(Secret::new("p")),
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        let (creds, _) = resolve(&s).unwrap();
        let Credentials::KeystoneV2 { secret, tenant, .. } = creds else {
            panic!("{creds:?}")
        };
        assert_eq!(secret, V2Secret::ApiKey(Secret::new("k")));
        assert_eq!(tenant, None);
    }

    #[test]
    fn version_inference() {
        let v = |url: &str| {
            let s = Settings {
                auth_url: Some(url.into()),
                ..Default::default()
            };
            infer_version(&s, &Url::parse(url).unwrap()).unwrap()
        };
        assert_eq!(v("http://h:5000/v3"), Version::V3);
        assert_eq!(v("http://h:5000/v3/"), Version::V3);
        assert_eq!(v("http://h:5000/v2.0"), Version::V2);
        assert_eq!(v("http://h:8080/auth/v1.0"), Version::V1);
    }

    #[test]
    fn bare_host_gets_version_path() {
        let s = Settings {
            auth_url: Some("http://h:5000".into()),
            version: Some("3".into()),
            username: Some("u".into()),
            password: Some(Secret::new("p")),
            ..Default::default()
        };
        let (creds, _) = resolve(&s).unwrap();
        assert_eq!(creds.auth_url().as_str(), "http://h:5000/v3");
    }

    #[test]
    fn errors_name_the_problem() {
        let unknown = Settings {
            auth_url: Some("http://h/v3".into()),
            version: Some("v4".into()),
            ..Default::default()
        };
        assert!(
            resolve(&unknown)
                .unwrap_err()
                .to_string()
                .contains("openstack-version")
        );
        let no_user = Settings {
            auth_url: Some("http://h/v3".into()),
            ..Default::default()
        };
        assert!(
            resolve(&no_user)
                .unwrap_err()
                .to_string()
                .contains("no username")
        );
        assert!(
            resolve(&Settings::default())
                .unwrap_err()
                .to_string()
                .contains("no auth URL")
        );
        let bad_url = Settings {
            auth_url: Some("h:5000/v3".into()),
            ..Default::default()
        };
        assert!(
            resolve(&bad_url)
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
    }

    #[test]
    fn malformed_sources() {
        assert!(parse_source("s3://bucket").is_err());
        assert!(parse_source("openstack://").is_err());
        assert!(parse_source("openstack:///prefix").is_err());
        assert!(parse_source("c/a/../b").is_err());
        let err = parse_source("openstack://c?auth-pasword=secret")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth-pasword") && !err.contains("secret"),
            "{err}"
        );
    }

    #[test]
    fn plain_container_and_prefix() {
        let (loc, s) = parse_source("c").unwrap();
        assert_eq!((loc.container.as_str(), loc.prefix.as_str()), ("c", ""));
        assert_eq!(s, Settings::default());
        let (loc, _) = parse_source("c/x/y/").unwrap();
        assert_eq!(loc.prefix, "x/y/");
    }

    #[test]
    fn precedence_flag_over_url_over_env() {
        let env = Settings::from_env(|k| match k {
            "OS_REGION_NAME" => Some("EnvRegion".into()),
            "OS_USERNAME" => Some("envuser".into()),
            "OS_PASSWORD" => Some("envpw".into()),
            _ => None,
        });
        let url = Settings {
            region: Some("UrlRegion".into()),
            username: Some("urluser".into()),
            ..Default::default()
        };
        let flags = Settings {
            region: Some("FlagRegion".into()),
            ..Default::default()
        };
        let merged = flags.over(url.over(env));
        assert_eq!(merged.region.as_deref(), Some("FlagRegion"));
        assert_eq!(merged.username.as_deref(), Some("urluser"));
        assert_eq!(merged.password.unwrap().expose(), "envpw");
    }

    #[test]
    fn precedence_env_over_cloud() {
        let cloud = Settings {
            region: Some("CloudRegion".into()),
            username: Some("clouduser".into()),
            password: Some(Secret::new("cloudpw")),
            auth_url: Some("http://cloud/v3".into()),
            ..Default::default()
        };
        let env = Settings::from_env(|k| (k == "OS_REGION_NAME").then(|| "EnvRegion".into()));
        let url = Settings {
            username: Some("urluser".into()),
            ..Default::default()
        };
        let flags = Settings {
            password: Some(Secret::new("flagpw")),
            ..Default::default()
        };
        let merged = flags.over(url.over(env.over(cloud)));
        assert_eq!(merged.region.as_deref(), Some("EnvRegion"));
        assert_eq!(merged.username.as_deref(), Some("urluser"));
        assert_eq!(merged.password.unwrap().expose(), "flagpw");
        assert_eq!(merged.auth_url.as_deref(), Some("http://cloud/v3"));
    }

    #[test]
    fn st_auth_means_v1() {
        let env = Settings::from_env(|k| match k {
            "ST_AUTH" => Some("http://h:8080/auth/v1.0".into()),
            "ST_USER" => Some("test:tester".into()),
            "ST_KEY" => Some("testing".into()),
            _ => None,
        });
        let (creds, _) = resolve(&env).unwrap();
        assert!(matches!(creds, Credentials::TempAuth { ref user, .. } if user == "test:tester"));
    }

    #[test]
    fn token_without_storage_url_is_a_v3_token_login() {
        let s = Settings {
            auth_url: Some("http://h/v3".into()),
            token: Some(Secret::new("t")),
            tenant_name: Some("p".into()),
            ..Default::default()
        };
        let Credentials::KeystoneV3 {
            identity, project, ..
        } = resolve(&s).unwrap().0
        else {
            panic!("v3 expected")
        };
        assert_eq!(
            identity,
            V3Identity::Token {
                token: Secret::new("t")
            }
        );
        assert!(project.is_some());
    }

    #[test]
    fn application_credential_by_name_needs_user() {
        let s = Settings {
            auth_url: Some("http://h/v3".into()),
            app_cred_name: Some("ac".into()),
            app_cred_secret: Some(Secret::new("s")),
            ..Default::default()
        };
        assert!(resolve(&s).is_err());
        let s = Settings {
            username: Some("u".into()),
            ..s
        };
        assert!(matches!(
            resolve(&s).unwrap().0,
            Credentials::KeystoneV3 { project: None, .. }
        ));
    }
}
