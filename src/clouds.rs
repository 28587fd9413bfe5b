//! `clouds.yaml`, where openstackclient and openstacksdk keep credentials: the cloud
//! chosen with `--os-cloud NAME` / `OS_CLOUD` becomes [`Settings`] that rank below the
//! environment (flag > URL > `OS_*` > cloud).
//!
//! Files are looked for where openstacksdk looks (`openstack/config/loader.py`), and
//! `secure.yaml` (same places, same cloud names) is merged over `clouds.yaml` key by
//! key, so that passwords can live in a file of their own.

use crate::source::Settings;
use crate::swift::Secret;
use serde::{Deserialize, Deserializer, de::Error as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yaml_serde::Value;

/// The `auth_type` values understood, as keystoneauth names its plugins.
const KNOWN_AUTH_TYPES: &str =
    "password, v2password, v3password, v3applicationcredential, token, v3token";

/// openstacksdk reads each of these suffixes in each folder, in this order.
const SUFFIXES: &[&str] = &["yaml", "yml", "json"];

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("cloud {name:?} asked for (--os-cloud or OS_CLOUD), but there is no clouds.yaml: looked for clouds.{{yaml,yml,json}} in {} (and secure.*)", show_paths(.searched))]
    NoFile {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("cloud {name:?} not found in {}: the clouds there are {}", show_paths(.files), show_names(.found))]
    NotFound {
        name: String,
        found: Vec<String>,
        files: Vec<PathBuf>,
    },
    #[error("cannot read {}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is not a valid clouds file: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "cloud {cloud:?}: unknown auth_type {auth_type:?} (swiftmount knows {KNOWN_AUTH_TYPES})"
    )]
    UnknownAuthType { cloud: String, auth_type: String },
    #[error(
        "cloud {cloud:?}: {what} is not supported (use a password, an application credential or a Keystone v3 token)"
    )]
    Unsupported { cloud: String, what: String },
    #[error(
        "cloud {cloud:?} (auth_type {auth_type}) has no {key}, and neither a flag, the URL nor {env} gives it"
    )]
    Incomplete {
        cloud: String,
        auth_type: &'static str,
        key: &'static str,
        env: &'static str,
    },
}

fn show_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

fn show_names(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Which of keystoneauth's ways in a cloud uses; it decides which `auth` keys count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    Password,
    ApplicationCredential,
    Token,
}

impl AuthKind {
    fn name(self) -> &'static str {
        match self {
            AuthKind::Password => "password",
            AuthKind::ApplicationCredential => "v3applicationcredential",
            AuthKind::Token => "token",
        }
    }
}

/// The selected cloud, ready to be merged below the other origins.
#[derive(Debug)]
pub struct SelectedCloud {
    pub name: String,
    pub kind: AuthKind,
    pub settings: Settings,
    pub ca_file: Option<PathBuf>,
    /// `verify: false` (or `insecure: true`): the cloud's certificates are not checked.
    pub insecure: bool,
}

impl SelectedCloud {
    /// What the merged settings still lack for this cloud's auth_type, as one error
    /// naming the cloud key; `None` when they are complete or a higher origin chose
    /// another way in (a pre-made token and storage URL, an application credential).
    pub fn incomplete(&self, merged: &Settings) -> Option<CloudError> {
        let other_credential = self.kind != AuthKind::ApplicationCredential
            && (merged.app_cred_id.is_some() || merged.app_cred_name.is_some());
        if (merged.storage_url.is_some() && merged.token.is_some()) || other_credential {
            return None;
        }
        let missing = if merged.auth_url.is_none() {
            Some(("auth.auth_url", "OS_AUTH_URL"))
        } else {
            match self.kind {
                AuthKind::Password if merged.username.is_none() && merged.user_id.is_none() => {
                    Some(("auth.username", "OS_USERNAME"))
                }
                AuthKind::Password if merged.password.is_none() => {
                    Some(("auth.password", "OS_PASSWORD"))
                }
                AuthKind::ApplicationCredential
                    if merged.app_cred_id.is_none() && merged.app_cred_name.is_none() =>
                {
                    Some((
                        "auth.application_credential_id",
                        "OS_APPLICATION_CREDENTIAL_ID",
                    ))
                }
                AuthKind::ApplicationCredential if merged.app_cred_secret.is_none() => Some((
                    "auth.application_credential_secret",
                    "OS_APPLICATION_CREDENTIAL_SECRET",
                )),
                AuthKind::Token if merged.token.is_none() => Some(("auth.token", "OS_AUTH_TOKEN")),
                _ => None,
            }
        };
        missing.map(|(key, env)| CloudError::Incomplete {
            cloud: self.name.clone(),
            auth_type: self.kind.name(),
            key,
            env,
        })
    }
}

/// Where a process looks: its environment and working directory.
pub struct Lookup<'a> {
    pub get: &'a dyn Fn(&str) -> Option<String>,
    pub cwd: PathBuf,
}

impl Lookup<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.is_empty())
    }

    /// openstacksdk's folders, in its order: the working directory, the user's config
    /// folder (`$XDG_CONFIG_HOME/openstack`, then `~/.config/openstack`), the site's
    /// (`$XDG_CONFIG_DIRS/openstack`, by default `/etc/xdg/openstack`, then
    /// `/etc/openstack`). A folder named twice is searched once.
    fn dirs(&self) -> Vec<PathBuf> {
        let home = self.var("HOME").map(PathBuf::from);
        let home_config = home.as_ref().map(|h| h.join(".config"));
        let user_config = self
            .var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or(home_config.clone());
        let site: Vec<PathBuf> = self
            .var("XDG_CONFIG_DIRS")
            .unwrap_or_else(|| "/etc/xdg".into())
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("openstack"))
            .collect();
        let mut dirs = vec![self.cwd.clone()];
        dirs.extend(user_config.map(|d| d.join("openstack")));
        dirs.extend(home_config.map(|d| d.join("openstack")));
        dirs.extend(site);
        dirs.push(PathBuf::from("/etc/openstack"));
        let mut seen = Vec::new();
        dirs.retain(|d| {
            let new = !seen.contains(d);
            seen.push(d.clone());
            new
        });
        dirs
    }

    /// Every file tried for `stem` (`clouds` or `secure`), first to last: the file
    /// named by `override_var` first, then each folder with each suffix.
    pub fn files(&self, stem: &str, override_var: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .var(override_var)
            .map(PathBuf::from)
            .into_iter()
            .collect();
        for dir in self.dirs() {
            files.extend(SUFFIXES.iter().map(|s| dir.join(format!("{stem}.{s}"))));
        }
        files
    }
}

/// The first of `files` that exists, parsed; a file that exists but cannot be read or
/// parsed is an error rather than skipped, so a typo is not silently ignored.
fn load_first(files: &[PathBuf]) -> Result<Option<(PathBuf, Value)>, CloudError> {
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(CloudError::Unreadable {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        };
        return parse(path, &text).map(|doc| Some((path.clone(), doc)));
    }
    Ok(None)
}

/// Parses one file and checks the shape of every cloud in it, so that a wrong type
/// is reported with its line (a JSON file is YAML too).
fn parse(path: &Path, text: &str) -> Result<Value, CloudError> {
    let malformed = |e: yaml_serde::Error| CloudError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Default::default()));
    }
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        #[allow(dead_code)] // read only to have its types checked
        clouds: BTreeMap<String, Cloud>,
    }
    yaml_serde::from_str::<Shape>(text).map_err(malformed)?;
    yaml_serde::from_str(text).map_err(malformed)
}

/// openstacksdk's merge: mappings key by key, anything else replaced by `upper`.
fn merge(lower: Value, upper: Value) -> Value {
    match (lower, upper) {
        (Value::Mapping(mut low), Value::Mapping(up)) => {
            for (k, v) in up {
                match low.get_mut(&k) {
                    Some(old) => *old = merge(std::mem::take(old), v),
                    None => {
                        low.insert(k, v);
                    }
                }
            }
            Value::Mapping(low)
        }
        (_, upper) => upper,
    }
}

/// Finds `clouds.yaml` and `secure.yaml` and selects the cloud `name`.
pub fn select(name: &str, lookup: &Lookup) -> Result<SelectedCloud, CloudError> {
    let searched = lookup.files("clouds", "OS_CLIENT_CONFIG_FILE");
    let clouds = load_first(&searched)?;
    let secure = load_first(&lookup.files("secure", "OS_CLIENT_SECURE_FILE"))?;
    let mut files = Vec::new();
    let mut doc = Value::Mapping(Default::default());
    for (path, part) in clouds.into_iter().chain(secure) {
        log::debug!("reading clouds from {}", path.display());
        files.push(path);
        doc = merge(doc, part);
    }
    if files.is_empty() {
        // a mistyped OS_CLIENT_CONFIG_FILE is passed over, as openstacksdk does, but named
        let named = lookup.var("OS_CLIENT_CONFIG_FILE").map(PathBuf::from);
        return Err(CloudError::NoFile {
            name: name.into(),
            searched: named.into_iter().chain(lookup.dirs()).collect(),
        });
    }
    let cloud = doc.get("clouds").and_then(|c| c.get(name)).cloned();
    let Some(cloud) = cloud else {
        let found = doc
            .get("clouds")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        return Err(CloudError::NotFound {
            name: name.into(),
            found,
            files,
        });
    };
    let cloud = Cloud::deserialize(cloud).map_err(|e| CloudError::Malformed {
        path: files.last().cloned().unwrap_or_default(),
        reason: format!("cloud {name:?}: {e}"),
    })?;
    cloud.into_selected(name)
}

/// A cloud's entry, the keys swiftmount uses; others (compute_api_version, …) are
/// left alone, as openstacksdk's other clients use them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Cloud {
    auth: Auth,
    #[serde(deserialize_with = "scalar")]
    auth_type: Option<String>,
    #[serde(deserialize_with = "scalar")]
    identity_api_version: Option<String>,
    #[serde(deserialize_with = "scalar")]
    region_name: Option<String>,
    /// Without `region_name`, openstacksdk takes the first of these.
    regions: Vec<Region>,
    #[serde(deserialize_with = "scalar")]
    interface: Option<String>,
    cacert: Option<PathBuf>,
    verify: Option<bool>,
    insecure: Option<bool>,
}

/// An entry of `regions`: a name, or a mapping with one (and per-region overrides,
/// which swiftmount does not read).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Region {
    Name(String),
    Entry { name: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Auth {
    #[serde(deserialize_with = "scalar")]
    auth_url: Option<String>,
    #[serde(deserialize_with = "scalar")]
    username: Option<String>,
    #[serde(deserialize_with = "scalar")]
    user_id: Option<String>,
    #[serde(deserialize_with = "secret")]
    password: Option<Secret>,
    #[serde(deserialize_with = "scalar", alias = "tenant_name")]
    project_name: Option<String>,
    #[serde(deserialize_with = "scalar", alias = "tenant_id")]
    project_id: Option<String>,
    #[serde(deserialize_with = "scalar")]
    user_domain_name: Option<String>,
    #[serde(deserialize_with = "scalar")]
    user_domain_id: Option<String>,
    #[serde(deserialize_with = "scalar")]
    project_domain_name: Option<String>,
    #[serde(deserialize_with = "scalar")]
    project_domain_id: Option<String>,
    /// With a project: the domain of both the user and the project (openstacksdk's
    /// `_handle_domain_id`).
    #[serde(deserialize_with = "scalar")]
    domain_name: Option<String>,
    #[serde(deserialize_with = "scalar")]
    domain_id: Option<String>,
    #[serde(deserialize_with = "scalar")]
    application_credential_id: Option<String>,
    #[serde(deserialize_with = "scalar")]
    application_credential_name: Option<String>,
    #[serde(deserialize_with = "secret")]
    application_credential_secret: Option<Secret>,
    #[serde(deserialize_with = "secret")]
    token: Option<Secret>,
}

/// Any YAML scalar as text (`identity_api_version: 3`, a numeric user id). The error
/// never shows the value: it may be a password.
fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(D::Error::custom(
            "expected a single value, found a list or a mapping",
        )),
    }
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(scalar(d)?.map(Secret::new))
}

impl Cloud {
    fn into_selected(self, name: &str) -> Result<SelectedCloud, CloudError> {
        let auth_type = self.auth_type.as_deref().unwrap_or("password");
        let (kind, version) = match auth_type {
            "password" => (AuthKind::Password, None),
            "v2password" => (AuthKind::Password, Some("2")),
            "v3password" => (AuthKind::Password, Some("3")),
            "v3applicationcredential" => (AuthKind::ApplicationCredential, Some("3")),
            "token" | "v3token" => (AuthKind::Token, Some("3")),
            other => {
                return Err(CloudError::UnknownAuthType {
                    cloud: name.into(),
                    auth_type: other.into(),
                });
            }
        };
        let a = self.auth;
        // openstacksdk's default identity_api_version is 3; an auth URL that names
        // v2.0 is left to the usual inference.
        let names_v2 = a
            .auth_url
            .as_deref()
            .is_some_and(|u| u.trim_end_matches('/').ends_with("/v2.0"));
        let version = self
            .identity_api_version
            .or_else(|| version.map(String::from))
            .or_else(|| (!names_v2).then(|| "3".into()));
        if kind == AuthKind::Token && version.as_deref().is_some_and(|v| v.starts_with('2')) {
            return Err(CloudError::Unsupported {
                cloud: name.into(),
                what: "a Keystone v2.0 token".into(),
            });
        }
        let mut s = Settings {
            auth_url: a.auth_url,
            version,
            region: self.region_name.or_else(|| {
                self.regions.into_iter().next().map(|r| match r {
                    Region::Name(name) | Region::Entry { name } => name,
                })
            }),
            interface: self.interface,
            ..Settings::default()
        };
        let user = |s: &mut Settings| {
            s.username = a.username.clone();
            s.user_id = a.user_id.clone();
            s.user_domain_name = a.user_domain_name.clone();
            s.user_domain_id = a.user_domain_id.clone().or(a.domain_id.clone());
        };
        let project = |s: &mut Settings| {
            s.tenant_name = a.project_name.clone();
            s.tenant_id = a.project_id.clone();
            s.project_domain_name = a.project_domain_name.clone();
            s.project_domain_id = a.project_domain_id.clone().or(a.domain_id.clone());
            s.domain_name = a.domain_name.clone();
        };
        match kind {
            AuthKind::Password => {
                user(&mut s);
                project(&mut s);
                s.password = a.password.clone();
            }
            AuthKind::ApplicationCredential => {
                user(&mut s);
                s.domain_name = a.domain_name.clone();
                s.app_cred_id = a.application_credential_id.clone();
                s.app_cred_name = a.application_credential_name.clone();
                s.app_cred_secret = a.application_credential_secret.clone();
            }
            AuthKind::Token => {
                project(&mut s);
                s.token = a.token.clone();
            }
        }
        Ok(SelectedCloud {
            name: name.into(),
            kind,
            settings: s,
            ca_file: self.cacert,
            insecure: self.verify == Some(false) || self.insecure == Some(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(cwd: &Path, get: &'a dyn Fn(&str) -> Option<String>) -> Lookup<'a> {
        Lookup {
            get,
            cwd: cwd.to_path_buf(),
        }
    }

    #[test]
    fn search_order_is_openstacksdk_s() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".into()),
            "OS_CLIENT_CONFIG_FILE" => Some("/x/my.yaml".into()),
            _ => None,
        };
        let files = lookup(Path::new("/w"), &env).files("clouds", "OS_CLIENT_CONFIG_FILE");
        let shown: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            shown,
            [
                "/x/my.yaml",
                "/w/clouds.yaml",
                "/w/clouds.yml",
                "/w/clouds.json",
                "/home/u/.config/openstack/clouds.yaml",
                "/home/u/.config/openstack/clouds.yml",
                "/home/u/.config/openstack/clouds.json",
                "/etc/xdg/openstack/clouds.yaml",
                "/etc/xdg/openstack/clouds.yml",
                "/etc/xdg/openstack/clouds.json",
                "/etc/openstack/clouds.yaml",
                "/etc/openstack/clouds.yml",
                "/etc/openstack/clouds.json",
            ]
        );
        let xdg = |k: &str| match k {
            "HOME" => Some("/home/u".into()),
            "XDG_CONFIG_HOME" => Some("/cfg".into()),
            "XDG_CONFIG_DIRS" => Some("/a:/b".into()),
            _ => None,
        };
        let dirs = lookup(Path::new("/w"), &xdg).dirs();
        let shown: Vec<String> = dirs.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            shown,
            [
                "/w",
                "/cfg/openstack",
                "/home/u/.config/openstack",
                "/a/openstack",
                "/b/openstack",
                "/etc/openstack"
            ]
        );
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A lookup that sees only `dir` (as cwd): no HOME, site folders that do not exist.
    fn only(dir: &Path) -> impl Fn(&str) -> Option<String> {
        let missing = dir.join("no-such-site").display().to_string();
        move |k: &str| (k == "XDG_CONFIG_DIRS").then(|| missing.clone())
    }

    #[test]
    fn secure_yaml_is_merged_over_clouds_yaml() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "clouds.yaml",
            "clouds:\n  lab:\n    auth:\n      auth_url: http://ks:5000\n      username: u\n      \
             password: old\n      project_name: p\n      domain_name: d\n    region_name: R1\n",
        );
        write(
            dir.path(),
            "secure.yml",
            "clouds:\n  lab:\n    auth:\n      password: 12345\n",
        );
        let env = only(dir.path());
        let cloud = select("lab", &lookup(dir.path(), &env)).unwrap();
        assert_eq!(cloud.kind, AuthKind::Password);
        let s = &cloud.settings;
        assert_eq!(s.password.as_ref().unwrap().expose(), "12345");
        assert_eq!(s.username.as_deref(), Some("u"));
        assert_eq!(s.domain_name.as_deref(), Some("d"));
        assert_eq!(s.region.as_deref(), Some("R1"));
        // openstacksdk's default identity API is v3, whatever the URL's path
        assert_eq!(s.version.as_deref(), Some("3"));
        assert!(!cloud.insecure);
    }

    #[test]
    fn first_file_found_wins() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "clouds.yaml",
            "clouds:\n  a: {region_name: Y}\n",
        );
        write(
            dir.path(),
            "clouds.json",
            r#"{"clouds": {"a": {"region_name": "J"}}}"#,
        );
        let env = only(dir.path());
        let cloud = select("a", &lookup(dir.path(), &env)).unwrap();
        assert_eq!(cloud.settings.region.as_deref(), Some("Y"));
        let named = dir.path().join("clouds.json").display().to_string();
        let env = move |k: &str| (k == "OS_CLIENT_CONFIG_FILE").then(|| named.clone());
        let cloud = select("a", &lookup(dir.path(), &env)).unwrap();
        assert_eq!(cloud.settings.region.as_deref(), Some("J"));
    }

    #[test]
    fn auth_types_map_onto_settings() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "clouds.yaml",
            "clouds:\n  ac:\n    auth_type: v3applicationcredential\n    verify: false\n    \
             cacert: /ca.pem\n    auth:\n      auth_url: http://ks/v3\n      \
             application_credential_id: id1\n      application_credential_secret: s\n      \
             project_name: ignored\n  tok:\n    auth_type: v3token\n    auth:\n      \
             auth_url: http://ks/v3\n      token: t\n      project_id: p1\n    \
             regions: [{name: First}, Second]\n  v2:\n    \
             auth_type: v2password\n    identity_api_version: 2\n    auth: {auth_url: 'http://ks/v2.0', \
             username: u, password: p, tenant_name: t}\n  odd:\n    auth_type: v3oidcpassword\n",
        );
        let env = only(dir.path());
        let l = lookup(dir.path(), &env);
        let ac = select("ac", &l).unwrap();
        assert_eq!(ac.kind, AuthKind::ApplicationCredential);
        assert_eq!(ac.settings.app_cred_id.as_deref(), Some("id1"));
        assert_eq!(
            ac.settings.tenant_name, None,
            "a credential has its own scope"
        );
        assert!(ac.insecure);
        assert_eq!(ac.ca_file, Some(PathBuf::from("/ca.pem")));
        let tok = select("tok", &l).unwrap();
        assert_eq!(tok.kind, AuthKind::Token);
        assert_eq!(tok.settings.token.as_ref().unwrap().expose(), "t");
        assert_eq!(tok.settings.tenant_id.as_deref(), Some("p1"));
        assert_eq!(tok.settings.region.as_deref(), Some("First"));
        let v2 = select("v2", &l).unwrap();
        assert_eq!(v2.settings.version.as_deref(), Some("2"));
        assert_eq!(v2.settings.tenant_name.as_deref(), Some("t"));
        let err = select("odd", &l).unwrap_err().to_string();
        assert!(
            err.contains("unknown auth_type \"v3oidcpassword\""),
            "{err}"
        );
    }

    #[test]
    fn bad_files_and_names_are_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let env = only(dir.path());
        let l = lookup(dir.path(), &env);
        let err = select("x", &l).unwrap_err().to_string();
        assert!(
            err.contains("no clouds.yaml") && err.contains("/etc/openstack"),
            "{err}"
        );
        let missing = dir.path().join("typo.yaml").display().to_string();
        let named = |k: &str| match k {
            "OS_CLIENT_CONFIG_FILE" => Some(missing.clone()),
            k => env(k),
        };
        let err = select("x", &lookup(dir.path(), &named))
            .unwrap_err()
            .to_string();
        assert!(err.contains("typo.yaml, "), "{err}");

        write(dir.path(), "clouds.yaml", "clouds:\n  a: {}\n  b: {}\n");
        let err = select("c", &l).unwrap_err().to_string();
        assert!(
            err.contains("\"c\" not found") && err.contains("a, b"),
            "{err}"
        );
        assert!(err.contains("clouds.yaml"), "{err}");

        write(dir.path(), "clouds.yaml", "clouds:\n  a:\n    auth: [1\n");
        let err = select("a", &l).unwrap_err().to_string();
        assert!(err.contains("clouds.yaml") && err.contains("line"), "{err}");

        write(
            dir.path(),
            "clouds.yaml",
            "clouds:\n  a:\n    auth:\n      password: {nested: hunter2}\n",
        );
        let err = select("a", &l).unwrap_err().to_string();
        assert!(err.contains("line 4") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn incomplete_names_the_missing_key() {
        let cloud = SelectedCloud {
            name: "lab".into(),
            kind: AuthKind::Password,
            settings: Settings::default(),
            ca_file: None,
            insecure: false,
        };
        let mut merged = Settings {
            auth_url: Some("http://ks/v3".into()),
            username: Some("u".into()),
            ..Settings::default()
        };
        let err = cloud.incomplete(&merged).unwrap().to_string();
        assert!(
            err.contains("auth.password") && err.contains("OS_PASSWORD"),
            "{err}"
        );
        let app_cred = Settings {
            app_cred_id: Some("from the environment".into()),
            ..merged.clone()
        };
        assert!(cloud.incomplete(&app_cred).is_none(), "another way in");
        merged.password = Some(Secret::new("p"));
        assert!(cloud.incomplete(&merged).is_none());
    }
}
