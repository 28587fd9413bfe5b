//! What Swift tells us about accounts, containers and objects.

use super::{ListedMeta, ObjectMeta};
use chrono::NaiveDateTime;
use percent_encoding::percent_decode_str;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Account totals from `HEAD <storage-url>`; quotas from the account-quotas middleware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    pub bytes_used: u64,
    pub object_count: u64,
    pub container_count: u64,
    pub quota_bytes: Option<u64>,
}

impl AccountInfo {
    pub(crate) fn from_headers(h: &HeaderMap) -> Self {
        AccountInfo {
            bytes_used: header_u64(h, "x-account-bytes-used").unwrap_or(0),
            object_count: header_u64(h, "x-account-object-count").unwrap_or(0),
            container_count: header_u64(h, "x-account-container-count").unwrap_or(0),
            quota_bytes: header_u64(h, "x-account-meta-quota-bytes"),
        }
    }
}

/// Container totals from `HEAD <container>`; quotas from the container-quotas middleware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub bytes_used: u64,
    pub object_count: u64,
    pub quota_bytes: Option<u64>,
    pub quota_count: Option<u64>,
}

impl ContainerInfo {
    pub(crate) fn from_headers(h: &HeaderMap) -> Self {
        ContainerInfo {
            bytes_used: header_u64(h, "x-container-bytes-used").unwrap_or(0),
            object_count: header_u64(h, "x-container-object-count").unwrap_or(0),
            quota_bytes: header_u64(h, "x-container-meta-quota-bytes"),
            quota_count: header_u64(h, "x-container-meta-quota-count"),
        }
    }
}

/// What `GET /info` says of the cluster: the features and limits a mount depends on.
/// A feature the cluster does not offer has no section (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ClusterInfo {
    #[serde(default)]
    pub swift: CoreLimits,
    pub slo: Option<SloLimits>,
    pub symlink: Option<Offered>,
    pub bulk_delete: Option<BulkDeleteLimits>,
    pub versioned_writes: Option<Offered>,
    pub object_versioning: Option<Offered>,
}

/// The `swift` section: limits of every object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct CoreLimits {
    pub version: Option<String>,
    /// Largest single object (a segment, or an object not stored as segments).
    pub max_file_size: Option<u64>,
    pub max_meta_count: Option<u64>,
    pub max_meta_name_length: Option<u64>,
    pub max_meta_value_length: Option<u64>,
    pub max_meta_overall_size: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SloLimits {
    pub max_manifest_segments: Option<u64>,
    pub max_manifest_size: Option<u64>,
    pub min_segment_size: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct BulkDeleteLimits {
    pub max_deletes_per_request: Option<u64>,
}

/// A feature whose section says nothing the mount needs beyond being there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Offered {}

/// One row of a JSON container listing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ListEntry {
    /// A pseudo-folder: names sharing `subdir` up to the delimiter.
    Subdir {
        subdir: String,
    },
    Object(ListedObject),
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ListedObject {
    pub name: String,
    pub bytes: u64,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub last_modified: String,
    #[serde(default)]
    pub content_type: String,
    /// A Swift symlink's `/v1/<account>/<container>/<object>`, quoted.
    #[serde(default)]
    pub symlink_path: Option<String>,
}

impl ListedObject {
    /// The listing's `last_modified` is UTC without a zone suffix.
    pub fn modified(&self) -> Option<SystemTime> {
        parse_listing_time(&self.last_modified)
    }

    /// What the row's content type carries.
    pub fn meta(&self) -> ListedMeta {
        ListedMeta::parse(&self.content_type)
    }

    /// The `container/object` a Swift symlink points to (in whichever account), as
    /// `X-Symlink-Target` names it, decoded.
    pub fn swift_link(&self) -> Option<String> {
        let path = self.symlink_path.as_deref()?;
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let target = parts.nth(2)?;
        Some(percent_decode_str(target).decode_utf8_lossy().into_owned())
    }
}

impl ListEntry {
    /// The name to continue a paged listing after.
    pub fn marker(&self) -> &str {
        match self {
            ListEntry::Subdir { subdir } => subdir,
            ListEntry::Object(o) => &o.name,
        }
    }
}

pub(crate) fn parse_listing_time(s: &str) -> Option<SystemTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().into())
}

/// Which kind of large-object manifest an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manifest {
    /// Static large object: a JSON list of segments.
    Slo,
    /// Dynamic large object: all objects under a prefix, by `X-Object-Manifest`.
    Dlo,
}

/// What `HEAD` (or a `GET`'s headers) says about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Whole size; for SLO and DLO, the size of the assembled object.
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// Content type and `X-Object-Meta-*`, as the filesystem reads them.
    pub meta: ObjectMeta,
    pub manifest: Option<Manifest>,
}

impl ObjectInfo {
    /// `size` must be given by the caller for ranged GETs, where Content-Length is the
    /// length of the range.
    pub fn from_headers(h: &HeaderMap, size: u64) -> Self {
        let text = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let manifest =
            if text("x-static-large-object").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                Some(Manifest::Slo)
            } else if h.contains_key("x-object-manifest") {
                Some(Manifest::Dlo)
            } else {
                None
            };
        ObjectInfo {
            size,
            etag: text("etag").map(|e| e.trim_matches('"').to_string()),
            last_modified: text("last-modified")
                .and_then(|s| chrono::DateTime::parse_from_rfc2822(&s).ok())
                .map(SystemTime::from),
            meta: ObjectMeta::from_headers(h),
            manifest,
        }
    }
}

/// One segment of a static large object manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SloSegment {
    /// `/<container>/<object>` of the segment.
    pub path: String,
    pub etag: String,
    pub size_bytes: u64,
}

pub(crate) fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // `date -u -d 2026-11-25T10:00:00 +%s`
    const EPOCH_2026_11_25_10H: u64 = 1_795_600_800;

    #[test]
    fn listing_rows() {
        let rows: Vec<ListEntry> = serde_json::from_str(
            r#"[{"subdir":"a/"},{"name":"b","bytes":3,"hash":"h","last_modified":"2026-11-25T10:00:00.123450","content_type":"text/plain"}]"#,
        )
        .unwrap();
        assert_eq!(
            rows[0],
            ListEntry::Subdir {
                subdir: "a/".into()
            }
        );
        let ListEntry::Object(o) = &rows[1] else {
            panic!("{rows:?}")
        };
        assert_eq!(o.bytes, 3);
        let t = o.modified().unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, EPOCH_2026_11_25_10H);
        assert_eq!(rows[1].marker(), "b");
    }
}
