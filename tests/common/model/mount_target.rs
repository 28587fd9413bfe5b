//! The real mount as a model target: `std::fs` on the mount point of a `swiftmount`
//! process over the local Swift; a remount unmounts it and mounts it again.

use super::target::{PathTarget, Root};
use crate::common::mount::Mount;
use std::path::Path;

pub struct SwiftMount {
    source: String,
    args: Vec<&'static str>,
    mount: Option<Mount>,
}

/// `swiftmount ARGS SOURCE` on a fresh mount point.
pub fn mount_target(source: String, args: Vec<&'static str>) -> PathTarget<SwiftMount> {
    let mount = Some(Mount::new(&source, &args));
    PathTarget::new(SwiftMount {
        source,
        args,
        mount,
    })
}

impl Root for SwiftMount {
    fn path(&self) -> &Path {
        &self.mount.as_ref().expect("mounted").path
    }

    fn describe(&self) -> String {
        format!("mount {:?}", self.args)
    }

    fn log(&self) -> String {
        self.mount.as_ref().map(Mount::log).unwrap_or_default()
    }

    fn remount(&mut self) -> Result<(), String> {
        let m = self.mount.take().expect("mounted");
        let log = m.log();
        let status = m.unmount();
        if !status.success() {
            return Err(format!("swiftmount exited with {status}; log:\n{log}"));
        }
        self.mount = Some(Mount::new(&self.source, &self.args));
        Ok(())
    }
}
