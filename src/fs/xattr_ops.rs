//! Extended attributes of the `user.` namespace, stored as the object's (or the
//! folder marker's) metadata within the cluster's limits. Listings say which objects
//! have any, so `listxattr` of the others (most files) costs no request.

use super::dir_ops::marker_of;
use super::inode::{Inode, Xattrs};
use super::{FsError, NodeKind, SwiftFs};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::Arc;

/// The only namespace stored; others (`security.`, `system.`, `trusted.`) are
/// refused at once.
const USER_NAMESPACE: &str = "user.";

/// How `setxattr` treats an attribute that exists or not (`XATTR_CREATE`,
/// `XATTR_REPLACE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XattrWrite {
    #[default]
    Either,
    Create,
    Replace,
}

/// Whether attributes of this name are stored (the `user.` namespace).
pub fn is_user_xattr(name: &OsStr) -> bool {
    user_xattr_name(name).is_ok()
}

/// A name of the stored namespace, or why not.
fn user_xattr_name(name: &OsStr) -> Result<&str, FsError> {
    match name.to_str() {
        Some(n) if n.starts_with(USER_NAMESPACE) && n.len() > USER_NAMESPACE.len() => Ok(n),
        _ => Err(FsError::XattrNamespace),
    }
}

impl SwiftFs {
    /// The extended attributes stored with an inode: those its open writers hold,
    /// else none when its listing said so, else what a HEAD of this version said.
    pub(super) async fn stored_xattrs(&self, inode: &Arc<Inode>) -> Result<Xattrs, FsError> {
        if let Some(open) = self.open_files.get(inode.ino) {
            return Ok(Arc::new(open.content().await.meta().xattrs.clone()));
        }
        let (has, cached) = inode.with_state(|s| {
            let cached = match (&s.xattrs, &s.etag) {
                (Some((for_etag, x)), Some(etag)) if for_etag == etag => Some(x.clone()),
                _ => None,
            };
            (s.has_xattrs, cached)
        });
        if !has {
            return Ok(Xattrs::default());
        }
        if let Some(x) = cached {
            return Ok(x);
        }
        let object = match inode.kind {
            NodeKind::Dir => marker_of(&self.inodes.key(inode))?,
            _ => self.object_name(inode)?,
        };
        let info = self.store.head_object(&self.container, &object).await?;
        inode.update_from_head(&info);
        Ok(Arc::new(info.meta.xattrs))
    }

    pub async fn getxattr(&self, ino: u64, name: &OsStr) -> Result<Vec<u8>, FsError> {
        let name = user_xattr_name(name)?;
        let inode = self.inode(ino)?;
        let xattrs = self.stored_xattrs(&inode).await?;
        xattrs.get(name).cloned().ok_or(FsError::NoAttribute)
    }

    /// The names of the stored attributes.
    pub async fn listxattr(&self, ino: u64) -> Result<Vec<String>, FsError> {
        let inode = self.inode(ino)?;
        Ok(self.stored_xattrs(&inode).await?.keys().cloned().collect())
    }

    pub async fn setxattr(
        &self,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        how: XattrWrite,
    ) -> Result<(), FsError> {
        let name = user_xattr_name(name)?;
        self.change_xattrs(ino, |x| {
            match (how, x.contains_key(name)) {
                (XattrWrite::Create, true) => return Err(FsError::Exists),
                (XattrWrite::Replace, false) => return Err(FsError::NoAttribute),
                _ => {}
            }
            x.insert(name.to_string(), value.to_vec());
            Ok(())
        })
        .await
    }

    pub async fn removexattr(&self, ino: u64, name: &OsStr) -> Result<(), FsError> {
        let name = user_xattr_name(name)?;
        self.change_xattrs(ino, |x| {
            x.remove(name).map(drop).ok_or(FsError::NoAttribute)
        })
        .await
    }

    /// Changes an inode's attributes and stores them: a folder's marker at once, a
    /// file's metadata at its writer's close (at once when it is not open). A change
    /// beyond the cluster's metadata limits fails and changes nothing.
    async fn change_xattrs(
        &self,
        ino: u64,
        change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> Result<(), FsError>,
    ) -> Result<(), FsError> {
        self.writable()?;
        let inode = self.inode(ino)?;
        match inode.kind {
            NodeKind::Dir if inode.ino == super::ROOT_INO => Err(FsError::NotPermitted(
                "the mount's root has no object to store xattrs on",
            )),
            NodeKind::Dir => {
                self.update_marker(&inode, |meta| change(&mut meta.xattrs))
                    .await
            }
            NodeKind::File => {
                let file = self.open_for_writing(&inode).await?;
                let changed = async {
                    let mut content = file.content().await;
                    let mut meta = content.meta().clone();
                    change(&mut meta.xattrs)?;
                    meta.check(&self.config.meta_limits)?;
                    content.change_meta(|m| m.xattrs = meta.xattrs);
                    Ok::<_, FsError>(())
                }
                .await;
                let stored = self.close_file(&file).await;
                changed?;
                stored
            }
            // as Linux: user attributes only on regular files and folders
            NodeKind::Symlink | NodeKind::Fifo | NodeKind::Socket => Err(FsError::NotPermitted(
                "user xattrs are only for regular files and folders",
            )),
        }
    }
}
