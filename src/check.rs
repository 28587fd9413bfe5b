//! `swiftmount check`: everything a mount does before mounting, reported, and what
//! the cluster's `/info` says it offers the mount.

use crate::cli::{CheckArgs, Resolved};
use crate::fs::SegmentPlan;
use crate::swift::{ClusterInfo, ObjectStore, SwiftClient, SwiftError};
use bytesize::ByteSize;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Swift(#[from] SwiftError),
    #[error("container {container} not found at {storage_url}")]
    NoContainer {
        container: String,
        storage_url: String,
    },
}

pub async fn run(args: &CheckArgs, out: &mut impl Write) -> Result<(), CheckError> {
    let Resolved {
        location,
        credentials,
        filter,
        client_config,
    } = args.auth.resolve(&args.source, &args.network)?;
    let client = SwiftClient::new(
        credentials,
        filter.clone(),
        client_config,
        Default::default(),
    )?;
    let session = client.session().await?;
    let info = match client.container_info(&location.container).await {
        Err(SwiftError::NotFound(_)) => {
            return Err(CheckError::NoContainer {
                container: location.container.to_string(),
                storage_url: session.storage_url.to_string(),
            });
        }
        other => other?,
    };
    let region = match (&session.region, &filter.region) {
        (Some(r), Some(wanted)) if !session.region_matched => {
            format!("{r} (no endpoint in region {wanted:?}; using the first one)")
        }
        (Some(r), _) => r.clone(),
        (None, _) => "-".to_string(),
    };
    let expires = session
        .expires_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "unknown".into());
    // A failed write to stdout (closed pipe) is not worth an error of its own.
    let _ = writeln!(
        out,
        "auth:        {}\nregion:      {region}\nstorage URL: {}\ntoken until: {expires}\n\
         container:   {} ({} objects, {} bytes)\nprefix:      {}",
        session.version,
        session.storage_url,
        location.container,
        info.object_count,
        info.bytes_used,
        if location.prefix.is_empty() {
            "(none)"
        } else {
            &location.prefix
        },
    );
    let cluster = match client.cluster_info().await {
        Ok(info) => capabilities(&info, args.segment_size),
        // a mount does not need /info; some clusters switch it off
        Err(e) => format!("cluster:     /info not available ({e}): limits unknown\n"),
    };
    let _ = write!(out, "{cluster}");
    Ok(())
}

fn size(bytes: u64) -> String {
    ByteSize::b(bytes).display().iec().to_string()
}

/// What the cluster offers that matters to a mount, each with what the mount does
/// with it or without it, one line per feature.
fn capabilities(info: &ClusterInfo, segment_size: u64) -> String {
    let core = &info.swift;
    let mut lines = vec![format!(
        "cluster:     Swift {}",
        core.version.as_deref().unwrap_or("(version not said)")
    )];
    let mut large = match &info.slo {
        Some(slo) => {
            let mut text = match slo.max_manifest_segments {
                Some(n) => format!(
                    "SLO, up to {n} segments: files up to {} with --segment-size {} (segments double every {})",
                    size(SegmentPlan::for_cluster(segment_size, Some(info)).max_file_size()),
                    size(segment_size),
                    (n / 10).max(1)
                ),
                None => "SLO (no segment limit said)".to_string(),
            };
            if let Some(m) = slo.max_manifest_size {
                text += &format!(", manifests up to {}", size(m));
            }
            if let Some(min) = slo.min_segment_size.filter(|&m| m > segment_size) {
                text += &format!(
                    "; segments must be at least {}: writes of large files will fail, raise --segment-size",
                    size(min)
                );
            }
            text
        }
        None => format!(
            "no SLO: files over --segment-size ({}) cannot be written",
            size(segment_size)
        ),
    };
    if let Some(max) = core.max_file_size.filter(|&m| m < segment_size) {
        large += &format!(
            "; objects are limited to {}: segments are cut to that",
            size(max)
        );
    }
    lines.push(format!("large files: {large}"));
    if let Some(max) = core.max_file_size {
        lines.push(format!(
            "object size: at most {} per object or segment",
            size(max)
        ));
    }
    lines.push(format!(
        "symlinks:    {}; the mount stores links to its own objects as Swift symlinks where offered, other links (and all without) as objects holding their target",
        offered(info.symlink.is_some())
    ));
    lines.push(match &info.bulk_delete {
        Some(b) => format!(
            "bulk delete: offered{}; the mount deletes one object per request (a large file's segments one by one)",
            b.max_deletes_per_request
                .map(|n| format!(" ({n} per request)"))
                .unwrap_or_default()
        ),
        None => "bulk delete: not offered; not needed: the mount deletes one object per request"
            .into(),
    });
    let versioning: Vec<&str> = [
        ("object_versioning", info.object_versioning.is_some()),
        ("versioned_writes", info.versioned_writes.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    lines.push(if versioning.is_empty() {
        "versioning:  not offered: what the mount replaces or deletes is gone".into()
    } else {
        format!(
            "versioning:  offered ({}): turned on for the container, it keeps what the mount replaces or deletes",
            versioning.join(", ")
        )
    });
    let limits: Vec<String> = [
        core.max_meta_count.map(|n| format!("{n} items")),
        core.max_meta_value_length
            .map(|n| format!("values up to {n} bytes")),
        core.max_meta_overall_size
            .map(|n| format!("{n} bytes in all")),
    ]
    .into_iter()
    .flatten()
    .collect();
    lines.push(format!(
        "metadata:    {}; the mount adds one item (X-Object-Meta-Mtime), one per user xattr (refused beyond these limits), and keeps the others as found",
        if limits.is_empty() {
            "no limits said".to_string()
        } else {
            limits.join(", ")
        }
    ));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn offered(yes: bool) -> &'static str {
    if yes { "offered" } else { "not offered" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swift::{CoreLimits, SloLimits};

    #[test]
    fn capabilities_say_what_the_mount_does_without_them() {
        let bare = capabilities(&ClusterInfo::default(), 8 << 20);
        assert!(
            bare.contains("no SLO: files over --segment-size (8.0 MiB) cannot be written"),
            "{bare}"
        );
        assert!(bare.contains("versioning:  not offered"), "{bare}");
        assert!(bare.contains("symlinks:    not offered"), "{bare}");
        assert!(bare.contains("metadata:    no limits said"), "{bare}");
        let full = ClusterInfo {
            swift: CoreLimits {
                version: Some("2.30.1".into()),
                max_file_size: Some(4 << 20),
                max_meta_count: Some(90),
                ..Default::default()
            },
            slo: Some(SloLimits {
                max_manifest_segments: Some(1000),
                max_manifest_size: None,
                min_segment_size: Some(16 << 20),
            }),
            ..Default::default()
        };
        let text = capabilities(&full, 8 << 20);
        assert!(
            text.contains(
                "files up to 3.9 GiB with --segment-size 8.0 MiB (segments double every 100)"
            ),
            "{text}"
        );
        assert!(
            text.contains("segments must be at least 16.0 MiB"),
            "{text}"
        );
        assert!(text.contains("segments are cut to that"), "{text}");
        assert!(text.contains("metadata:    90 items"), "{text}");
    }
}
