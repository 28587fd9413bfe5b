//! The one error type of the filesystem layer, and its one mapping to errno.

use crate::swift::{MetaOverflow, SwiftError};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("name longer than 255 bytes")]
    NameTooLong,
    #[error("name cannot be stored in Swift: {0}")]
    InvalidName(String),
    #[error("read-only mount")]
    ReadOnly,
    #[error("unknown inode {0}")]
    UnknownInode(u64),
    #[error("unknown file handle {0}")]
    UnknownHandle(u64),
    #[error("already exists")]
    Exists,
    #[error("folder not empty")]
    NotEmpty,
    #[error("handle not open for writing")]
    NotWritable,
    #[error("busy: files below are still being written")]
    Busy,
    #[error("not permitted: {0}")]
    NotPermitted(&'static str),
    #[error("not a symbolic link")]
    NotASymlink,
    #[error("not a regular file")]
    NotAFile,
    #[error("no such attribute")]
    NoAttribute,
    #[error("attribute namespace not supported")]
    XattrNamespace,
    #[error("larger than one large object can be ({0} bytes)")]
    TooLarge(u64),
    #[error(transparent)]
    MetaOverflow(#[from] MetaOverflow),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Swift(#[from] SwiftError),
}

impl FsError {
    /// The errno an application sees. Exhaustive on purpose: a new variant must
    /// decide its errno here.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::NotADirectory => libc::ENOTDIR,
            FsError::IsADirectory => libc::EISDIR,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::InvalidName(_) => libc::EINVAL,
            FsError::ReadOnly => libc::EROFS,
            FsError::UnknownInode(_) | FsError::UnknownHandle(_) => libc::EBADF,
            FsError::Exists => libc::EEXIST,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::NotWritable => libc::EBADF,
            FsError::Busy => libc::EBUSY,
            FsError::NotPermitted(_) => libc::EPERM,
            FsError::NotASymlink => libc::EINVAL,
            FsError::NotAFile => libc::ENXIO,
            FsError::NoAttribute => libc::ENODATA,
            FsError::TooLarge(_) => libc::EFBIG,
            FsError::XattrNamespace => libc::ENOTSUP,
            FsError::MetaOverflow(MetaOverflow::ValueTooLong(_)) => libc::E2BIG,
            FsError::MetaOverflow(MetaOverflow::NameTooLong(_)) => libc::ERANGE,
            FsError::MetaOverflow(MetaOverflow::TooMany(_) | MetaOverflow::TooLarge(_)) => {
                libc::ENOSPC
            }
            FsError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
            FsError::Swift(e) => swift_errno(e),
        }
    }
}

fn swift_errno(e: &SwiftError) -> i32 {
    match e {
        SwiftError::NotFound(_) => libc::ENOENT,
        SwiftError::Forbidden { .. } | SwiftError::AuthFailed { .. } => libc::EACCES,
        SwiftError::Conflict(_) => libc::EBUSY,
        SwiftError::PreconditionFailed(_) => libc::ESTALE,
        SwiftError::RangeNotSatisfiable(_) => libc::EINVAL,
        SwiftError::InvalidName { .. } => libc::EINVAL,
        SwiftError::Http { status: 413, .. } | SwiftError::Http { status: 507, .. } => libc::ENOSPC,
        SwiftError::Timeout { .. } => libc::ETIMEDOUT,
        // the cache directory's disk: full (ENOSPC) is what the program must hear
        SwiftError::LocalFile { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        SwiftError::Config(_)
        | SwiftError::CaFile { .. }
        | SwiftError::Certificate { .. }
        | SwiftError::Unreachable { .. }
        | SwiftError::NoEndpoint(_)
        | SwiftError::Http { .. }
        | SwiftError::InvalidResponse { .. }
        | SwiftError::ChecksumMismatch { .. }
        | SwiftError::Transfer { .. } => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_errors_map_to_errno() {
        assert_eq!(
            FsError::Swift(SwiftError::NotFound("x".into())).errno(),
            libc::ENOENT
        );
        let quota = SwiftError::Http {
            method: "PUT".into(),
            what: "x".into(),
            status: 413,
            detail: String::new(),
        };
        assert_eq!(FsError::Swift(quota).errno(), libc::ENOSPC);
        let down = SwiftError::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(FsError::Swift(down).errno(), libc::EIO);
        assert_eq!(FsError::NameTooLong.errno(), libc::ENAMETOOLONG);
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(FsError::Io(full).errno(), libc::ENOSPC);
        let local = SwiftError::LocalFile {
            what: "x".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(FsError::Swift(local).errno(), libc::ENOSPC);
    }
}
