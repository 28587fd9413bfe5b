//! The one error type of the Swift client layer.
//!
//! Messages are written for a person reading one line on a terminal: they name the
//! operation and the thing involved, never a secret (tokens, passwords and keys live in
//! [`super::Secret`], which does not print).

use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum SwiftError {
    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("authentication failed at {url}: {reason}")]
    AuthFailed { url: String, reason: String },

    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },

    #[error("timed out talking to {url}")]
    Timeout { url: String },

    /// The server's TLS certificate was refused: never transient, asking again
    /// gets the same certificate.
    #[error("TLS certificate of {url} refused: {reason}")]
    Certificate { url: String, reason: String },

    #[error("cannot use CA certificates from {path}: {reason}")]
    CaFile { path: String, reason: String },

    #[error("no object-store endpoint in the service catalog ({0})")]
    NoEndpoint(String),

    #[error("{0} not found")]
    NotFound(String),

    #[error("access to {what} denied (HTTP {status})")]
    Forbidden { what: String, status: u16 },

    #[error("conflict on {0} (HTTP 409)")]
    Conflict(String),

    #[error("precondition failed on {0} (HTTP 412)")]
    PreconditionFailed(String),

    #[error("range not satisfiable on {0} (HTTP 416)")]
    RangeNotSatisfiable(String),

    #[error("{method} {what} failed with HTTP {status}{detail}")]
    Http {
        method: String,
        what: String,
        status: u16,
        /// Short server message, prefixed with ": " when non-empty.
        detail: String,
    },

    #[error("unexpected response from {what}: {reason}")]
    InvalidResponse { what: String, reason: String },

    #[error("checksum mismatch on {what}: sent MD5 {sent}, server stored {stored}")]
    ChecksumMismatch {
        what: String,
        sent: String,
        stored: String,
    },

    #[error("transfer of {what} failed: {reason}")]
    Transfer { what: String, reason: String },

    /// A local file the upload reads from failed (the cache directory's disk): not
    /// the network's fault, so never retried.
    #[error("local copy of {what}: {source}")]
    LocalFile {
        what: String,
        source: std::io::Error,
    },

    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
}

impl SwiftError {
    /// Whether repeating the same request may succeed: server-side trouble and
    /// connection problems, never client errors.
    pub fn is_transient(&self) -> bool {
        match self {
            SwiftError::Unreachable { .. }
            | SwiftError::Timeout { .. }
            | SwiftError::Transfer { .. } => true,
            SwiftError::Http { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }

    /// Maps a reqwest transport error; `url` must not carry secrets (ours never do).
    pub(crate) fn from_reqwest(url: &str, e: reqwest::Error) -> Self {
        if let Some(reason) = super::tls::certificate_problem(&e) {
            SwiftError::Certificate {
                url: url.to_string(),
                reason,
            }
        } else if e.is_timeout() {
            SwiftError::Timeout {
                url: url.to_string(),
            }
        } else if e.is_connect() {
            SwiftError::Unreachable {
                url: url.to_string(),
                reason: root_cause(&e),
            }
        } else if e.is_body() || e.is_decode() || e.is_request() {
            SwiftError::Transfer {
                what: url.to_string(),
                reason: root_cause(&e),
            }
        } else {
            SwiftError::Unreachable {
                url: url.to_string(),
                reason: root_cause(&e),
            }
        }
    }

    /// Classifies an HTTP error status of a Swift storage request.
    pub(crate) fn from_status(method: &str, what: &str, status: StatusCode, body: &str) -> Self {
        let what = what.to_string();
        match status.as_u16() {
            404 => SwiftError::NotFound(what),
            401 | 403 => SwiftError::Forbidden {
                what,
                status: status.as_u16(),
            },
            409 => SwiftError::Conflict(what),
            412 => SwiftError::PreconditionFailed(what),
            416 => SwiftError::RangeNotSatisfiable(what),
            code => SwiftError::Http {
                method: method.to_string(),
                what,
                status: code,
                detail: short_detail(body),
            },
        }
    }
}

fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 498 | 500 | 502 | 503 | 504)
}

/// The innermost cause is what a person can act on ("Connection refused"), not
/// reqwest's wrapper text.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// First line of a server body, cut short: Swift and Keystone put their reason there,
/// but HTML error pages must not flood a one-line message.
pub(crate) fn short_detail(body: &str) -> String {
    let text = body.trim();
    if text.is_empty() || text.starts_with('<') {
        return String::new();
    }
    let line = text.lines().next().unwrap_or_default();
    let cut: String = line.chars().take(200).collect();
    format!(": {cut}")
}
