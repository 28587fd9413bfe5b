//! What swiftmount keeps with an object besides its bytes, and how it is written in
//! Swift's own terms.
//!
//! The filesystem layer speaks [`ObjectMeta`]; only this module knows the header names
//! and the content-type parameters. What `ls -l`, `find` and `rsync` ask of every
//! entry (mtime, mode, owner, a symlink's target, whether there are xattrs) goes in
//! parameters of the content type, because container listings carry content types
//! but no metadata: a listing then needs no HEAD per entry. The mtime is also written
//! as `X-Object-Meta-Mtime` (as rclone and python-swiftclient write it, for other
//! tools). Extended attributes are `X-Object-Meta-Xattr-<name>` headers, read by a
//! HEAD of the objects whose listing row says they have some.

use super::types::CoreLimits;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Content-type parameters that carry what listings must show.
const MTIME_PARAM: &str = "swiftmount_mtime";
const MODE_PARAM: &str = "swiftmount_mode";
const UID_PARAM: &str = "swiftmount_uid";
const GID_PARAM: &str = "swiftmount_gid";
const LINK_PARAM: &str = "swiftmount_link";
const XATTRS_PARAM: &str = "swiftmount_xattrs";
const PARAMS: [&str; 6] = [
    MTIME_PARAM,
    MODE_PARAM,
    UID_PARAM,
    GID_PARAM,
    LINK_PARAM,
    XATTRS_PARAM,
];
/// A symlink target longer than this once encoded stays out of the content type
/// (Swift refuses header values over 8 KiB); the object's body holds it anyway.
const LINK_PARAM_MAX: usize = 6144;
/// `X-Object-Meta-<key>` that carries the mtime (rclone, python-swiftclient).
const MTIME_META: &str = "mtime";
/// `X-Object-Meta-Xattr-<encoded name>` carries one extended attribute.
const XATTR_META: &str = "xattr-";
const META_PREFIX: &str = "x-object-meta-";
const DEFAULT_TYPE: &str = "application/octet-stream";
const DIRECTORY_TYPE: &str = "application/directory";
const SYMLINK_TARGET: &str = "x-symlink-target";
/// What an `X-Symlink-Target` keeps as it is: Swift unquotes the value.
const SWIFT_LINK_SET: &AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Header names are case-insensitive and Swift reads `_` as `-`: only lower-case
/// letters, digits, `.` and `-` of an xattr name go into a header name as they are.
const XATTR_NAME_SET: &AsciiSet =
    &upper_case(percent_encoding::NON_ALPHANUMERIC.remove(b'.').remove(b'-'));
/// Header values are visible ASCII without blanks at the ends.
const XATTR_VALUE_SET: &AsciiSet = &CONTROLS.add(b' ').add(b'%');
/// What a content-type parameter value cannot hold, even quoted (Swift keeps only
/// parameters it can parse as RFC 2616 tokens or quoted strings).
const LINK_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b';')
    .add(b',')
    .add(b'\\');

const fn upper_case(set: AsciiSet) -> AsciiSet {
    let mut set = set;
    let mut c = b'A';
    while c <= b'Z' {
        set = set.add(c);
        c += 1;
    }
    set
}

/// POSIX attributes stored with an object or a folder marker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PosixAttrs {
    /// `st_mode`: the file type and the permission bits.
    pub mode: Option<u32>,
    /// The owner, when it is not the mount's (see docs/SEMANTICS.md).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A symbolic link's target.
    pub link: Option<String>,
}

/// An object's metadata as the filesystem sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The file's own modification time, if one was stored.
    pub mtime: Option<SystemTime>,
    /// The object is a folder marker (`application/directory`).
    pub directory: bool,
    pub posix: PosixAttrs,
    /// Extended attributes, by their whole name (`user.comment`).
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The content type without swiftmount's parameters, as another tool set it.
    pub content_type: Option<String>,
    /// Every other `X-Object-Meta-*` (keys lower-case, prefix removed): kept as found,
    /// since a metadata update replaces all of them.
    pub other: BTreeMap<String, String>,
    /// The object is a Swift symlink to this `container/object` (`X-Symlink-Target`):
    /// plain Swift clients follow it. Its body is empty; the POSIX target string
    /// stays in [`PosixAttrs::link`].
    pub swift_link: Option<String>,
}

/// What a listing row's content type tells about the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedMeta {
    pub mtime: Option<SystemTime>,
    pub directory: bool,
    pub posix: PosixAttrs,
    /// The object has extended attributes (a HEAD tells which).
    pub xattrs: bool,
}

/// Swift's limits on an object's `X-Object-Meta-*` headers (`/info`'s `swift`
/// section; Swift's defaults when it does not say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaLimits {
    pub count: usize,
    pub name_length: usize,
    pub value_length: usize,
    pub overall_size: usize,
}

/// Which of Swift's metadata limits a change would cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetaOverflow {
    #[error("an attribute name is longer than Swift allows ({0} bytes)")]
    NameTooLong(usize),
    #[error("an attribute value is longer than Swift allows ({0} bytes)")]
    ValueTooLong(usize),
    #[error("more attributes than Swift allows ({0})")]
    TooMany(usize),
    #[error("attributes larger in all than Swift allows ({0} bytes)")]
    TooLarge(usize),
}

impl Default for MetaLimits {
    fn default() -> Self {
        MetaLimits {
            count: 90,
            name_length: 128,
            value_length: 256,
            overall_size: 4096,
        }
    }
}

impl MetaLimits {
    pub fn from_info(core: &CoreLimits) -> Self {
        let d = MetaLimits::default();
        let or = |v: Option<u64>, d: usize| v.map_or(d, |v| usize::try_from(v).unwrap_or(d));
        MetaLimits {
            count: or(core.max_meta_count, d.count),
            name_length: or(core.max_meta_name_length, d.name_length),
            value_length: or(core.max_meta_value_length, d.value_length),
            overall_size: or(core.max_meta_overall_size, d.overall_size),
        }
    }
}

impl ObjectMeta {
    /// A file's metadata with just its mtime.
    pub fn with_mtime(t: SystemTime) -> Self {
        ObjectMeta {
            mtime: Some(t),
            ..ObjectMeta::default()
        }
    }

    /// A folder marker's metadata.
    pub fn directory() -> Self {
        ObjectMeta {
            directory: true,
            ..ObjectMeta::default()
        }
    }

    /// The content type to store: the base type with swiftmount's parameters.
    pub fn content_type_header(&self) -> String {
        let mut ct = match (&self.content_type, self.directory) {
            (Some(ct), _) => ct.clone(),
            (None, true) => DIRECTORY_TYPE.to_string(),
            (None, false) => DEFAULT_TYPE.to_string(),
        };
        let mut param = |k: &str, v: &str| {
            ct.push(';');
            ct.push_str(k);
            ct.push('=');
            ct.push_str(v);
        };
        if let Some(t) = self.mtime {
            param(MTIME_PARAM, &format_time(t));
        }
        let p = &self.posix;
        if let Some(mode) = p.mode {
            param(MODE_PARAM, &format!("{mode:o}"));
        }
        if let Some(uid) = p.uid {
            param(UID_PARAM, &uid.to_string());
        }
        if let Some(gid) = p.gid {
            param(GID_PARAM, &gid.to_string());
        }
        if let Some(encoded) = p.link.as_deref().and_then(link_param) {
            param(LINK_PARAM, &encoded);
        }
        if !self.xattrs.is_empty() {
            param(XATTRS_PARAM, "1");
        }
        ct
    }

    /// The `X-Object-Meta-*` headers of this metadata, names without the prefix.
    fn meta_headers(&self) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = self
            .other
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in &self.xattrs {
            h.push((xattr_key(name), encode_value(value)));
        }
        if let Some(t) = self.mtime {
            h.push((MTIME_META.to_string(), format_time(t)));
        }
        h
    }

    /// The headers of a PUT or POST that stores this metadata.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![("content-type".to_string(), self.content_type_header())];
        for (k, v) in self.meta_headers() {
            h.push((format!("{META_PREFIX}{k}"), v));
        }
        if let Some(target) = &self.swift_link {
            let quoted = utf8_percent_encode(target, SWIFT_LINK_SET).to_string();
            h.push((SYMLINK_TARGET.to_string(), quoted));
        }
        h
    }

    /// Whether a link to `target` is listed with its target (its content type can
    /// carry it): only such links can be Swift symlinks, whose body cannot hold it.
    pub fn link_is_listed(target: &str) -> bool {
        link_param(target).is_some()
    }

    /// Whether Swift would store this metadata, by its limits on `X-Object-Meta-*`.
    pub fn check(&self, limits: &MetaLimits) -> Result<(), MetaOverflow> {
        let headers = self.meta_headers();
        if headers.len() > limits.count {
            return Err(MetaOverflow::TooMany(limits.count));
        }
        let mut size = 0;
        for (k, v) in &headers {
            if k.len() > limits.name_length {
                return Err(MetaOverflow::NameTooLong(limits.name_length));
            }
            if v.len() > limits.value_length {
                return Err(MetaOverflow::ValueTooLong(limits.value_length));
            }
            size += k.len() + v.len();
        }
        if size > limits.overall_size {
            return Err(MetaOverflow::TooLarge(limits.overall_size));
        }
        Ok(())
    }

    /// Reads what a HEAD or GET answered.
    pub fn from_headers(h: &HeaderMap) -> Self {
        let content_type = h.get("content-type").and_then(|v| v.to_str().ok());
        let mut other = BTreeMap::new();
        let mut xattrs = BTreeMap::new();
        for (k, v) in h {
            let Some(key) = k.as_str().strip_prefix(META_PREFIX) else {
                continue;
            };
            let Ok(value) = v.to_str() else { continue };
            match key.strip_prefix(XATTR_META) {
                Some(name) => {
                    let name = percent_decode_str(name).decode_utf8_lossy().into_owned();
                    let value: Vec<u8> = percent_decode_str(value).collect();
                    xattrs.insert(name, value);
                }
                None => {
                    other.insert(key.to_string(), value.to_string());
                }
            }
        }
        let swift_link = h
            .get(SYMLINK_TARGET)
            .and_then(|v| v.to_str().ok())
            .map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned());
        let meta_mtime = other.remove(MTIME_META);
        let listed = content_type.map(ListedMeta::parse).unwrap_or_default();
        ObjectMeta {
            mtime: meta_mtime.as_deref().and_then(parse_time).or(listed.mtime),
            directory: listed.directory,
            posix: listed.posix,
            xattrs,
            content_type: content_type
                .map(base_type)
                .filter(|b| !b.is_empty() && *b != DEFAULT_TYPE && *b != DIRECTORY_TYPE),
            other,
            swift_link,
        }
    }
}

impl ListedMeta {
    /// Reads a listing row's content type.
    pub fn parse(content_type: &str) -> Self {
        let mut meta = ListedMeta::default();
        let mut parts = content_type.split(';');
        let base = parts.next().unwrap_or_default().trim();
        // swiftclient and rclone write the first, svfs and cloudfuse the second
        meta.directory = base.eq_ignore_ascii_case(DIRECTORY_TYPE)
            || base.eq_ignore_ascii_case("application/x-directory");
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                MTIME_PARAM => meta.mtime = parse_time(v),
                MODE_PARAM => meta.posix.mode = u32::from_str_radix(v, 8).ok(),
                UID_PARAM => meta.posix.uid = v.parse().ok(),
                GID_PARAM => meta.posix.gid = v.parse().ok(),
                LINK_PARAM => {
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    meta.posix.link = percent_decode_str(v)
                        .decode_utf8()
                        .ok()
                        .map(|s| s.into_owned())
                }
                XATTRS_PARAM => meta.xattrs = v == "1",
                _ => {}
            }
        }
        meta
    }
}

/// A link target as a content-type parameter value, if it fits.
fn link_param(target: &str) -> Option<String> {
    let encoded = format!("\"{}\"", utf8_percent_encode(target, LINK_SET));
    (encoded.len() <= LINK_PARAM_MAX).then_some(encoded)
}

fn xattr_key(name: &str) -> String {
    format!("{XATTR_META}{}", utf8_percent_encode(name, XATTR_NAME_SET))
}

fn encode_value(value: &[u8]) -> String {
    percent_encoding::percent_encode(value, XATTR_VALUE_SET).to_string()
}

/// The content type without swiftmount's own parameters.
fn base_type(content_type: &str) -> String {
    content_type
        .split(';')
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default().trim();
            !PARAMS.contains(&key)
        })
        .collect::<Vec<_>>()
        .join(";")
        .trim()
        .to_string()
}

/// Seconds since the epoch with nanoseconds, as rclone writes `X-Object-Meta-Mtime`.
fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Parses seconds since the epoch with a fraction (rclone writes nanoseconds,
/// swiftclient microseconds). Not through a float, which would lose the nanoseconds.
pub fn parse_time(v: &str) -> Option<SystemTime> {
    let (secs, frac) = v.trim().split_once('.').unwrap_or((v.trim(), ""));
    let secs: u64 = secs.parse().ok()?;
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn header_map(h: &[(String, String)]) -> HeaderMap {
        h.iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn times_keep_their_nanoseconds() {
        let t = parse_time("1700000000.5").unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.as_millis(), 1_700_000_000_500);
        let t = parse_time("1795602484.163373683").unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.subsec_nanos(), 163_373_683);
        assert!(parse_time("1700000000").is_some());
        assert!(parse_time("yesterday").is_none());
        assert!(parse_time("-1").is_none());
    }

    #[test]
    fn metadata_survives_its_headers() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_400_000_000, 125_000_000);
        let mut meta = ObjectMeta::with_mtime(t);
        meta.content_type = Some("text/plain; charset=utf-8".into());
        meta.other.insert("color".into(), "blue".into());
        let h = header_map(&meta.headers());
        assert_eq!(ObjectMeta::from_headers(&h), meta);
        let listed = ListedMeta::parse(&meta.content_type_header());
        assert_eq!(listed.mtime, Some(t));
        assert!(!listed.directory);
    }

    #[test]
    fn markers_and_foreign_objects() {
        let dir = ListedMeta::parse(&ObjectMeta::directory().content_type_header());
        assert!(dir.directory);
        assert!(ListedMeta::parse("application/x-directory").directory);
        assert!(ListedMeta::parse("application/directory; charset=utf-8").directory);
        assert!(!ListedMeta::parse("text/plain").directory);
        assert_eq!(ListedMeta::parse("text/plain; charset=utf-8").mtime, None);
        // rclone's mtime header alone
        let h = header_map(&[("x-object-meta-mtime".into(), "42".into())]);
        let meta = ObjectMeta::from_headers(&h);
        assert_eq!(
            meta.mtime,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(42))
        );
        assert!(meta.other.is_empty());
    }

    #[test]
    fn posix_attributes_and_xattrs_survive_headers_and_listings() {
        let mut meta = ObjectMeta::with_mtime(SystemTime::UNIX_EPOCH + Duration::from_secs(7));
        meta.posix = PosixAttrs {
            mode: Some(0o120777),
            uid: Some(1001),
            gid: Some(0),
            link: Some("../a b;c\"d%e/ünï".into()),
        };
        meta.xattrs.insert(
            "user.Mixed_Case name".into(),
            b"  blanks \x00\xff%".to_vec(),
        );
        meta.xattrs.insert("user.plain".into(), b"v".to_vec());
        meta.other.insert("color".into(), "blue".into());
        let h = header_map(&meta.headers());
        assert_eq!(ObjectMeta::from_headers(&h), meta);
        let listed = ListedMeta::parse(&meta.content_type_header());
        assert_eq!(listed.posix, meta.posix);
        assert!(listed.xattrs);
        assert_eq!(listed.mtime, meta.mtime);
    }

    #[test]
    fn a_long_link_target_stays_out_of_the_content_type() {
        let mut meta = ObjectMeta::default();
        meta.posix.link = Some("x".repeat(4095));
        let listed = ListedMeta::parse(&meta.content_type_header());
        assert_eq!(listed.posix.link, meta.posix.link, "PATH_MAX of ASCII fits");
        meta.posix.link = Some("é".repeat(2000));
        assert!(meta.content_type_header().len() < 8192);
        assert_eq!(
            ListedMeta::parse(&meta.content_type_header()).posix.link,
            None
        );
    }

    #[test]
    fn metadata_limits_are_swifts() {
        let limits = MetaLimits::default();
        let mut meta = ObjectMeta::default();
        meta.xattrs.insert("user.a".into(), vec![b'v'; 256]);
        assert_eq!(meta.check(&limits), Ok(()));
        meta.xattrs.insert("user.b".into(), vec![b' '; 100]);
        assert_eq!(meta.check(&limits), Err(MetaOverflow::ValueTooLong(256)));
        meta.xattrs.clear();
        meta.xattrs
            .insert(format!("user.{}", "n".repeat(200)), vec![]);
        assert_eq!(meta.check(&limits), Err(MetaOverflow::NameTooLong(128)));
        meta.xattrs.clear();
        for i in 0..20 {
            meta.xattrs.insert(format!("user.{i}"), vec![b'v'; 250]);
        }
        assert_eq!(meta.check(&limits), Err(MetaOverflow::TooLarge(4096)));
        meta.xattrs.clear();
        for i in 0..91 {
            meta.xattrs.insert(format!("user.{i}"), vec![]);
        }
        assert_eq!(meta.check(&limits), Err(MetaOverflow::TooMany(90)));
    }
}
