//! `swiftmount check`: everything a mount does before mounting, reported.

use crate::cli::{CheckArgs, Resolved};
use crate::swift::{ObjectStore, SwiftClient, SwiftError};
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
    let client = SwiftClient::new(credentials, filter.clone(), client_config)?;
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
    Ok(())
}
