//! What swiftmount keeps with an object besides its bytes, and how it is written in
//! Swift's own terms.
//!
//! The filesystem layer speaks [`ObjectMeta`]; only this module knows the header names
//! and the content-type parameters. A file's mtime is written twice: as
//! `X-Object-Meta-Mtime` (as rclone and python-swiftclient write it, for other tools)
//! and as a `swiftmount_mtime=` parameter of the content type, because container
//! listings carry content types but no metadata: `ls -l` then needs no HEAD per file.

use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Content-type parameter that carries a file's mtime in container listings.
const MTIME_PARAM: &str = "swiftmount_mtime";
/// `X-Object-Meta-<key>` that carries the mtime (rclone, python-swiftclient).
const MTIME_META: &str = "mtime";
const META_PREFIX: &str = "x-object-meta-";
const DEFAULT_TYPE: &str = "application/octet-stream";
const DIRECTORY_TYPE: &str = "application/directory";

/// An object's metadata as the filesystem sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The file's own modification time, if one was stored.
    pub mtime: Option<SystemTime>,
    /// The object is a folder marker (`application/directory`).
    pub directory: bool,
    /// The content type without swiftmount's parameters, as another tool set it.
    pub content_type: Option<String>,
    /// Every other `X-Object-Meta-*` (keys lower-case, prefix removed): kept as found,
    /// since a metadata update replaces all of them.
    pub other: BTreeMap<String, String>,
}

/// What a listing row's content type tells about the object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListedMeta {
    pub mtime: Option<SystemTime>,
    pub directory: bool,
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
        let base = match (&self.content_type, self.directory) {
            (Some(ct), _) => ct.clone(),
            (None, true) => DIRECTORY_TYPE.to_string(),
            (None, false) => DEFAULT_TYPE.to_string(),
        };
        match self.mtime {
            Some(t) => format!("{base};{MTIME_PARAM}={}", format_time(t)),
            None => base,
        }
    }

    /// The headers of a PUT or POST that stores this metadata.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![("content-type".to_string(), self.content_type_header())];
        for (k, v) in &self.other {
            h.push((format!("{META_PREFIX}{k}"), v.clone()));
        }
        if let Some(t) = self.mtime {
            h.push((format!("{META_PREFIX}{MTIME_META}"), format_time(t)));
        }
        h
    }

    /// Reads what a HEAD or GET answered.
    pub fn from_headers(h: &HeaderMap) -> Self {
        let content_type = h.get("content-type").and_then(|v| v.to_str().ok());
        let mut other: BTreeMap<String, String> = h
            .iter()
            .filter_map(|(k, v)| {
                let key = k.as_str().strip_prefix(META_PREFIX)?;
                Some((key.to_string(), v.to_str().ok()?.to_string()))
            })
            .collect();
        let meta_mtime = other.remove(MTIME_META);
        let listed = content_type.map(ListedMeta::parse).unwrap_or_default();
        ObjectMeta {
            mtime: meta_mtime.as_deref().and_then(parse_time).or(listed.mtime),
            directory: listed.directory,
            content_type: content_type
                .map(base_type)
                .filter(|b| !b.is_empty() && *b != DEFAULT_TYPE && *b != DIRECTORY_TYPE),
            other,
        }
    }
}

impl ListedMeta {
    /// Reads a listing row's content type.
    pub fn parse(content_type: &str) -> Self {
        let mtime = content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim() == MTIME_PARAM).then(|| parse_time(v))?
        });
        let base = content_type.split(';').next().unwrap_or_default().trim();
        ListedMeta {
            mtime,
            // swiftclient and rclone write the first, svfs and cloudfuse the second
            directory: base.eq_ignore_ascii_case(DIRECTORY_TYPE)
                || base.eq_ignore_ascii_case("application/x-directory"),
        }
    }
}

/// The content type without swiftmount's own parameters.
fn base_type(content_type: &str) -> String {
    content_type
        .split(';')
        .filter(|p| !p.trim().starts_with(MTIME_PARAM))
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
}
