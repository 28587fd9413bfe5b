//! Command-line arguments, turned into typed settings for the layers below.
//!
//! Option names follow Duplicati's OpenStack destination (`--auth-username`,
//! `--openstack-region`, …) so a Duplicati URL and these flags say the same things.

use crate::clouds::{self, Lookup, SelectedCloud};
use crate::source::{self, Location, Settings, SourceError};
use crate::swift::{ClientConfig, Credentials, EndpointFilter, Secret};
use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "swiftmount",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SWIFTMOUNT_COMMIT"), ")"),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Mount options can also be given as -o OPT[,OPT…], as mount(8) and fstab pass them \
        (mount -t fuse.swiftmount SOURCE DIR -o ro,allow_other,dir_cache_ttl=60): each \
        key=value is the flag --key value (with _ for -), ro is --read-only, nonempty is \
        --allow-non-empty, and generic options such as rw, nodev, nosuid, noauto, _netdev \
        and x-* are accepted and ignored.",
    about = "Mount an OpenStack Swift container (or a prefix inside it) as a directory",
    long_about = "Mount an OpenStack Swift container (or a prefix inside it) as a directory.\n\n\
        SOURCE is Duplicati's storage URL, openstack://<container>/<prefix>?auth-username=…&openstack-authuri=…, \
        or <container>[/<prefix>] with the settings given as flags, OS_* / ST_* environment variables \
        or a cloud of clouds.yaml (--os-cloud). A flag wins over the URL, which wins over the \
        environment, which wins over the cloud.\n\n\
        Secrets are best passed in the environment (OS_PASSWORD, OS_API_KEY, OS_AUTH_TOKEN, \
        OS_APPLICATION_CREDENTIAL_SECRET) or in files (--auth-password-file …): command-line \
        arguments are visible to every user in ps."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub mount: MountArgs,
}

impl Cli {
    /// Parses the process arguments, `-o` options included. A usage error is one
    /// line naming the problem (clap's own report adds usage and hints), exit code 2.
    pub fn parse_args() -> Self {
        match Cli::try_parse_from(expand_mount_options(std::env::args_os())) {
            Ok(cli) => cli,
            Err(e) if !e.use_stderr() => e.exit(), // --help, --version
            Err(e) => {
                let text = e.render().to_string();
                let mut lines = text.lines();
                let mut first = lines
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
                    .to_string();
                if first.ends_with(':') {
                    // "the following required arguments were not provided:" + a list
                    let listed: Vec<&str> = lines
                        .take_while(|l| l.starts_with(' '))
                        .map(str::trim)
                        .collect();
                    first = format!("{first} {}", listed.join(", "));
                }
                eprintln!("swiftmount: {first} (see swiftmount --help)");
                std::process::exit(2);
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// openstack://<container>/<prefix>?… or <container>[/<prefix>]
    #[arg(required = true)]
    pub source: Option<String>,

    /// An empty directory to mount on
    #[arg(required = true)]
    pub mountpoint: Option<PathBuf>,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub network: NetworkArgs,

    #[command(flatten)]
    pub options: MountOptions,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Mount")]
pub struct MountOptions {
    /// Stay in the foreground (default: return once the mount is up)
    #[arg(short, long)]
    pub foreground: bool,
    /// Refuse every change (writes, deletes, renames)
    #[arg(long)]
    pub read_only: bool,
    /// Let other users use the mount (needs user_allow_other in /etc/fuse.conf)
    #[arg(long, conflicts_with = "allow_root")]
    pub allow_other: bool,
    /// Let root use the mount too
    #[arg(long)]
    pub allow_root: bool,
    /// Mount even if the mount point is not empty (its files are hidden meanwhile)
    #[arg(long)]
    pub allow_non_empty: bool,
    /// Owner of what has no owner stored [default: the mounting user]
    #[arg(long)]
    pub uid: Option<u32>,
    /// Group of what has no group stored [default: the mounting user's group]
    #[arg(long)]
    pub gid: Option<u32>,
    /// Permission bits of files that have none stored, in octal
    #[arg(long, value_name = "MODE", default_value = "0644", value_parser = parse_mode)]
    pub file_mode: u16,
    /// Permission bits of folders that have none stored, in octal
    #[arg(long, value_name = "MODE", default_value = "0755", value_parser = parse_mode)]
    pub dir_mode: u16,
    /// Show --uid, --gid, --file-mode and --dir-mode for every entry, whatever mode
    /// and owner are stored with it (changes are still stored)
    #[arg(long)]
    pub ignore_stored_perms: bool,
    /// Seconds a folder listing is trusted before Swift is asked again (0: always ask)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub dir_cache_ttl: u64,
    /// Most folder listings kept in memory
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub dir_cache_size: u64,
    /// Files larger than this are stored as static large objects (SLO) whose
    /// segments start at this size and double every tenth of the cluster's segment
    /// limit, 1 MiB to 5 GiB (Swift refuses single objects over 5 GiB): 8M, 512M,
    /// 1G, 5GiB (K, M, G, T count in 1024s); a plain number is MiB
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_segment_size)]
    pub segment_size: u64,
    /// Container for SLO segments [default: <container>_segments]
    #[arg(long, value_name = "NAME")]
    pub segments_container: Option<String>,
    /// Where files changed other than by sequential writes are kept until uploaded
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    pub cache_dir: PathBuf,
    /// Write the log here (in the background the log has nowhere else to go)
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics, ADDR an IP address and port
    /// such as 127.0.0.1:9100; only that address is listened on [default: off]
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

fn parse_mode(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 0644"))
}

/// A size in bytes as rclone takes them: `8M`, `512K`, `1G`, `5GiB`, `8MiB`, with K, M,
/// G and T counting in 1024s whether or not an `i` follows; a plain number is `unit`s.
fn parse_size(s: &str, unit: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .with_default_factor(unit)
        .parse_size(s)
        .map_err(|_| format!("{s:?} is not a size like 8M, 512K, 1G or 5GiB"))?;
    if range.contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!(
            "{s} is not between {} and {}",
            ByteSize::b(*range.start()).display().iec(),
            ByteSize::b(*range.end()).display().iec()
        ))
    }
}

/// Swift's largest single object, and its default smallest SLO segment.
fn parse_segment_size(s: &str) -> Result<u64, String> {
    parse_size(s, 1 << 20, (1 << 20)..=(5 << 30))
}

/// mount(8) options that say nothing to us.
const IGNORED_MOUNT_OPTIONS: &[&str] = &[
    "rw",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "auto",
    "noauto",
    "user",
    "nouser",
    "users",
    "_netdev",
    "defaults",
    "async",
    "atime",
    "noatime",
    "relatime",
    "nofail",
    "default_permissions",
];

/// Rewrites `-o a,b=c` (as mount.fuse3 and fstab pass options) into `--a --b c`.
pub fn expand_mount_options<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let list = match arg.to_str() {
            Some("-o") => match args.next() {
                Some(v) => v,
                None => {
                    out.push(arg);
                    continue;
                }
            },
            Some(a) if a.starts_with("-o") && a.len() > 2 => a[2..].into(),
            _ => {
                out.push(arg);
                continue;
            }
        };
        for opt in list.to_string_lossy().split(',').filter(|o| !o.is_empty()) {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            if IGNORED_MOUNT_OPTIONS.contains(&key) || key.starts_with("x-") {
                continue;
            }
            let flag = match key {
                "ro" => "read-only".to_string(),
                "nonempty" => "allow-non-empty".to_string(),
                k => k.replace('_', "-"),
            };
            out.push(format!("--{flag}").into());
            if let Some(v) = value {
                out.push(v.into());
            }
        }
    }
    out
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in, pick the endpoint and report the container and what the cluster offers
    /// (from its /info), without mounting.
    Check(Box<CheckArgs>),
    /// Write the man pages and bash, zsh and fish completions into DIR (for
    /// scripts/install.sh and packagers).
    #[command(hide = true)]
    Generate { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// openstack://<container>/<prefix>?… or <container>[/<prefix>]
    pub source: String,

    /// The mount's --segment-size, to tell the largest file the cluster takes
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_segment_size)]
    pub segment_size: u64,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Authentication")]
pub struct AuthArgs {
    /// A cloud of clouds.yaml (and secure.yaml), found where openstackclient finds
    /// them; flags, the URL and OS_* variables win over its keys [env: OS_CLOUD]
    #[arg(long, value_name = "NAME", env = "OS_CLOUD", hide_env = true)]
    pub os_cloud: Option<String>,
    /// Identity endpoint: Keystone (…/v3, …/v2.0) or v1 auth (…/auth/v1.0) [env: OS_AUTH_URL, ST_AUTH]
    #[arg(long, value_name = "URL")]
    pub openstack_authuri: Option<String>,
    /// v1, v2 or v3; by default inferred from the auth URL [env: OS_IDENTITY_API_VERSION]
    #[arg(long, value_name = "VERSION")]
    pub openstack_version: Option<String>,
    /// [env: OS_USERNAME, ST_USER]
    #[arg(long, value_name = "NAME")]
    pub auth_username: Option<String>,
    /// Visible in ps: prefer OS_PASSWORD or --auth-password-file [env: OS_PASSWORD, ST_KEY]
    #[arg(long, value_name = "PASSWORD")]
    pub auth_password: Option<String>,
    /// Read the password from the first line of a file
    #[arg(long, value_name = "FILE", conflicts_with = "auth_password")]
    pub auth_password_file: Option<PathBuf>,
    /// Rackspace-style API key (Keystone v2); wins over the password [env: OS_API_KEY]
    #[arg(long, value_name = "KEY")]
    pub openstack_apikey: Option<String>,
    /// Read the API key from the first line of a file
    #[arg(long, value_name = "FILE", conflicts_with = "openstack_apikey")]
    pub openstack_apikey_file: Option<PathBuf>,
    /// Project (tenant) name [env: OS_PROJECT_NAME, OS_TENANT_NAME]
    #[arg(long, value_name = "NAME")]
    pub openstack_tenant_name: Option<String>,
    /// Project (tenant) id [env: OS_PROJECT_ID, OS_TENANT_ID]
    #[arg(long, value_name = "ID")]
    pub openstack_tenant_id: Option<String>,
    /// Keystone v3 domain of both the user and the project [env: OS_DOMAIN_NAME]
    #[arg(long, value_name = "NAME")]
    pub openstack_domain_name: Option<String>,
    /// Keystone v3 user domain, if it differs [env: OS_USER_DOMAIN_NAME]
    #[arg(long, value_name = "NAME")]
    pub openstack_user_domain_name: Option<String>,
    /// Keystone v3 project domain, if it differs [env: OS_PROJECT_DOMAIN_NAME]
    #[arg(long, value_name = "NAME")]
    pub openstack_project_domain_name: Option<String>,
    /// Region of the object-store endpoint; the first endpoint if none matches [env: OS_REGION_NAME]
    #[arg(long, value_name = "REGION")]
    pub openstack_region: Option<String>,
    /// Endpoint interface: public, internal or admin [env: OS_INTERFACE]
    #[arg(long, value_name = "INTERFACE")]
    pub openstack_interface: Option<String>,
    /// Keystone v3 application credential id [env: OS_APPLICATION_CREDENTIAL_ID]
    #[arg(long, value_name = "ID")]
    pub openstack_application_credential_id: Option<String>,
    /// Application credential name (needs --auth-username) [env: OS_APPLICATION_CREDENTIAL_NAME]
    #[arg(long, value_name = "NAME")]
    pub openstack_application_credential_name: Option<String>,
    /// Read the application credential secret from a file [env: OS_APPLICATION_CREDENTIAL_SECRET]
    #[arg(long, value_name = "FILE")]
    pub openstack_application_credential_secret_file: Option<PathBuf>,
    /// Storage URL of a token made elsewhere (with --auth-token-file) [env: OS_STORAGE_URL]
    #[arg(long, value_name = "URL")]
    pub storage_url: Option<String>,
    /// Read a pre-made token from a file [env: OS_AUTH_TOKEN]
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Network")]
pub struct NetworkArgs {
    /// Seconds to wait for a TCP/TLS connection
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connect_timeout: u64,
    /// Seconds to wait for the next bytes of a response
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Extra attempts for a failed request that is safe to repeat (backing off from
    /// 0.2 s, doubling: the default rides out 6-12 s of outage, e.g. a proxy restart)
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// Do not verify TLS certificates (self-signed test clusters only)
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file (a private cloud's CA), besides
    /// the system's [env: OS_CACERT]
    #[arg(long, value_name = "FILE")]
    pub os_cacert: Option<PathBuf>,
    /// Rows per listing request (Swift's own cap is 10,000)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub list_page_size: u32,
}

impl NetworkArgs {
    fn client_config(&self, cloud: Option<&SelectedCloud>) -> ClientConfig {
        self.client_config_with_env(|k| std::env::var_os(k), cloud)
    }

    /// The flag wins over `OS_CACERT`, which wins over the cloud's `cacert`, as
    /// everywhere; Duplicati's URLs have no CA option, so there is no URL level here.
    /// A cloud with `verify: false` turns verification off as `--insecure` does.
    fn client_config_with_env(
        &self,
        get: impl Fn(&str) -> Option<OsString>,
        cloud: Option<&SelectedCloud>,
    ) -> ClientConfig {
        let ca_file = self
            .os_cacert
            .clone()
            .or_else(|| {
                get("OS_CACERT")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| cloud.and_then(|c| c.ca_file.clone()));
        ClientConfig {
            connect_timeout: Duration::from_secs(self.connect_timeout),
            read_timeout: Duration::from_secs(self.timeout),
            retries: self.retries,
            insecure_tls: self.insecure || cloud.is_some_and(|c| c.insecure),
            ca_file,
            listing_page_size: self.list_page_size,
            ..ClientConfig::default()
        }
    }
}

impl AuthArgs {
    fn settings(&self) -> Result<Settings, SourceError> {
        let file = |what, path: &Option<PathBuf>| {
            path.as_deref()
                .map(|p| source::read_secret_file(what, p))
                .transpose()
        };
        let password = match &self.auth_password {
            Some(p) => {
                log::warn!(
                    "--auth-password is visible to other users in ps; prefer OS_PASSWORD or --auth-password-file"
                );
                Some(Secret::new(p.clone()))
            }
            None => file("the password", &self.auth_password_file)?,
        };
        let api_key = match &self.openstack_apikey {
            Some(k) => Some(Secret::new(k.clone())),
            None => file("the API key", &self.openstack_apikey_file)?,
        };
        Ok(Settings {
            auth_url: self.openstack_authuri.clone(),
            version: self.openstack_version.clone(),
            username: self.auth_username.clone(),
            user_id: None,
            password,
            api_key,
            tenant_name: self.openstack_tenant_name.clone(),
            tenant_id: self.openstack_tenant_id.clone(),
            domain_name: self.openstack_domain_name.clone(),
            user_domain_name: self.openstack_user_domain_name.clone(),
            user_domain_id: None,
            project_domain_name: self.openstack_project_domain_name.clone(),
            project_domain_id: None,
            region: self.openstack_region.clone(),
            interface: self.openstack_interface.clone(),
            app_cred_id: self.openstack_application_credential_id.clone(),
            app_cred_name: self.openstack_application_credential_name.clone(),
            app_cred_secret: file(
                "the application credential secret",
                &self.openstack_application_credential_secret_file,
            )?,
            storage_url: self.storage_url.clone(),
            token: file("the token", &self.auth_token_file)?,
        })
    }

    /// Merges flags, the SOURCE's URL options, the environment and the selected cloud
    /// (in that order of precedence) into credentials and the client's settings, and
    /// splits SOURCE into container and prefix.
    pub fn resolve(
        &self,
        source_text: &str,
        network: &NetworkArgs,
    ) -> Result<Resolved, SourceError> {
        let (location, from_url) = source::parse_source(source_text)?;
        let get = |k: &str| std::env::var(k).ok();
        let from_env = Settings::from_env(get);
        let cloud = match &self.os_cloud {
            Some(name) => {
                let lookup = Lookup {
                    get: &get,
                    cwd: std::env::current_dir().unwrap_or_default(),
                };
                Some(clouds::select(name, &lookup)?)
            }
            None => None,
        };
        let from_cloud = cloud
            .as_ref()
            .map(|c| c.settings.clone())
            .unwrap_or_default();
        let merged = self
            .settings()?
            .over(from_url.over(from_env.over(from_cloud)));
        if let Some(missing) = cloud.as_ref().and_then(|c| c.incomplete(&merged)) {
            return Err(missing.into());
        }
        let (credentials, filter) = source::resolve(&merged)?;
        Ok(Resolved {
            location,
            credentials,
            filter,
            client_config: network.client_config(cloud.as_ref()),
        })
    }
}

/// What a mount or a check needs to reach the container.
pub struct Resolved {
    pub location: Location,
    pub credentials: Credentials,
    pub filter: EndpointFilter,
    pub client_config: ClientConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &[&str]) -> Vec<String> {
        expand_mount_options(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn mount_options_become_flags() {
        assert_eq!(
            expand(&[
                "swiftmount",
                "src",
                "/mnt",
                "-o",
                "rw,nodev,ro,allow_other,dir_cache_ttl=5,x-systemd.automount,nonempty"
            ]),
            [
                "swiftmount",
                "src",
                "/mnt",
                "--read-only",
                "--allow-other",
                "--dir-cache-ttl",
                "5",
                "--allow-non-empty"
            ]
        );
        assert_eq!(expand(&["s", "-ouid=7"]), ["s", "--uid", "7"]);
    }

    #[test]
    fn mount_and_check_forms_parse() {
        let cli = Cli::try_parse_from(expand(&[
            "swiftmount",
            "c/p",
            "/mnt",
            "-o",
            "ro,file_mode=0600",
        ]))
        .unwrap();
        assert!(cli.command.is_none());
        assert!(cli.mount.options.read_only);
        assert_eq!(cli.mount.options.file_mode, 0o600);
        let cli = Cli::try_parse_from(["swiftmount", "check", "c"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Check(_))));
        assert!(
            Cli::try_parse_from(["swiftmount", "c"]).is_err(),
            "mount point missing"
        );
        assert!(Cli::try_parse_from(["swiftmount", "c", "/m", "--file-mode", "999"]).is_err());
        assert!(Cli::try_parse_from(expand(&["swiftmount", "c", "/m", "-o", "bogus"])).is_err());
    }

    #[test]
    fn sizes_take_suffixes_in_1024s() {
        for (text, bytes) in [
            ("8", 8 << 20),
            ("8M", 8 << 20),
            ("8MiB", 8 << 20),
            ("8mb", 8 << 20),
            ("1024K", 1 << 20),
            ("1G", 1 << 30),
            ("5GiB", 5 << 30),
            ("1.5G", 3 << 29),
        ] {
            assert_eq!(parse_segment_size(text), Ok(bytes), "{text}");
        }
        let err = parse_segment_size("8Q").unwrap_err();
        assert!(err.contains("not a size like 8M"), "{err}");
        assert!(parse_segment_size("").is_err());
        let err = parse_segment_size("6G").unwrap_err();
        assert_eq!(err, "6G is not between 1.0 MiB and 5.0 GiB");
        assert!(parse_segment_size("512K").is_err(), "under 1 MiB");
        assert!(parse_segment_size("0").is_err());
        let cli = Cli::try_parse_from(["swiftmount", "c", "/m"]).unwrap();
        assert_eq!(cli.mount.options.segment_size, 64 << 20);
        let cli = Cli::try_parse_from(expand(&["swiftmount", "c", "/m", "-o", "segment_size=8M"]))
            .unwrap();
        assert_eq!(cli.mount.options.segment_size, 8 << 20);
    }

    #[test]
    fn ca_file_flag_over_env() {
        let network = |args: &[&str]| {
            let cli = Cli::try_parse_from(["swiftmount", "check", "c"].iter().chain(args)).unwrap();
            let Some(Command::Check(check)) = cli.command else {
                panic!("check expected")
            };
            check.network
        };
        let env = |k: &str| (k == "OS_CACERT").then(|| OsString::from("/env/ca.pem"));
        let none = |_: &str| None;
        let from_flag = network(&["--os-cacert", "/flag/ca.pem"]);
        assert_eq!(
            from_flag.client_config_with_env(env, None).ca_file,
            Some(PathBuf::from("/flag/ca.pem"))
        );
        let plain = network(&[]);
        assert_eq!(
            plain.client_config_with_env(env, None).ca_file,
            Some(PathBuf::from("/env/ca.pem"))
        );
        assert_eq!(plain.client_config_with_env(none, None).ca_file, None);
        let empty = |_: &str| Some(OsString::new());
        assert_eq!(plain.client_config_with_env(empty, None).ca_file, None);
        // the cloud's cacert is the lowest, its verify: false adds to --insecure
        let cloud = SelectedCloud {
            name: "c".into(),
            kind: clouds::AuthKind::Password,
            settings: Settings::default(),
            ca_file: Some(PathBuf::from("/cloud/ca.pem")),
            insecure: true,
        };
        assert_eq!(
            plain.client_config_with_env(env, Some(&cloud)).ca_file,
            Some(PathBuf::from("/env/ca.pem"))
        );
        let from_cloud = plain.client_config_with_env(none, Some(&cloud));
        assert_eq!(from_cloud.ca_file, Some(PathBuf::from("/cloud/ca.pem")));
        assert!(from_cloud.insecure_tls && !plain.client_config_with_env(none, None).insecure_tls);
        // -o os_cacert=FILE, as fstab passes it
        let cli = Cli::try_parse_from(expand(&[
            "swiftmount",
            "c",
            "/m",
            "-o",
            "os_cacert=/o/ca.pem",
        ]))
        .unwrap();
        assert_eq!(
            cli.mount.network.os_cacert,
            Some(PathBuf::from("/o/ca.pem"))
        );
    }
}
