//! Objects as Swift holds them, read and made through the Swift API (never through a
//! mount): an object's bytes, the names a container lists, the segments a mount left
//! beside it, and static large objects made as fixtures.

#![allow(dead_code)]

use super::lab::{TestContainer, obj};
use bytes::Bytes;
use swiftmount::swift::{ListQuery, ObjectMeta, ObjectStore, SloSegment, SwiftError};

/// Every byte of `name` in `t`, or `None` when Swift has no such object.
pub async fn stored_bytes(t: &TestContainer, name: &str) -> Option<Vec<u8>> {
    let info = match t.client.head_object(&t.name, &obj(name)).await {
        Ok(info) => info,
        Err(SwiftError::NotFound(_)) => return None,
        Err(e) => panic!("HEAD {name}: {e}"),
    };
    if info.size == 0 {
        // an empty object has no range to ask for
        return Some(Vec::new());
    }
    let bytes = t
        .client
        .get_range(&t.name, &obj(name), 0..info.size, None)
        .await
        .unwrap_or_else(|e| panic!("GET {name}: {e}"));
    Some(bytes.to_vec())
}

/// Every byte of `name` in `t`, which must be there.
pub async fn swift_bytes(t: &TestContainer, name: &str) -> Vec<u8> {
    stored_bytes(t, name)
        .await
        .unwrap_or_else(|| panic!("{name} is not in Swift"))
}

/// The container's listing, names (and subdir markers) sorted.
pub async fn listed_names(t: &TestContainer) -> Vec<String> {
    let rows = t
        .client
        .list_all(&t.name, &ListQuery::default())
        .await
        .unwrap();
    let mut names: Vec<String> = rows.iter().map(|r| r.marker().to_string()).collect();
    names.sort();
    names
}

/// Objects in the `<container>_segments` container a mount writes large files' segments
/// to (0 when it was never made).
pub async fn segment_count(t: &TestContainer) -> usize {
    match t
        .client
        .list_all(&t.segments(), &ListQuery::default())
        .await
    {
        Ok(rows) => rows.len(),
        Err(SwiftError::NotFound(_)) => 0,
        Err(e) => panic!("{e}"),
    }
}

/// Uploads `parts` as segments `<seg_prefix>/00000000`, ... in `segs` and an SLO
/// manifest `name` over them in `t`; returns the whole content. (Swift wants every
/// segment but the last to be at least 1 MiB.)
pub async fn make_slo(
    t: &TestContainer,
    segs: &TestContainer,
    name: &str,
    seg_prefix: &str,
    parts: &[Vec<u8>],
) -> Vec<u8> {
    let mut manifest = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let seg = format!("{seg_prefix}/{i:08}");
        let etag = segs
            .client
            .put_raw(&segs.name, &obj(&seg), Bytes::from(p.clone()), &[])
            .await
            .unwrap();
        manifest.push(SloSegment {
            path: format!("/{}/{seg}", segs.name),
            etag,
            size_bytes: p.len() as u64,
        });
    }
    t.client
        .put_slo_manifest(&t.name, &obj(name), &manifest, &ObjectMeta::default())
        .await
        .unwrap();
    parts.concat()
}
