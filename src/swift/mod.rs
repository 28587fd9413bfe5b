//! The Swift client layer: authentication, endpoint choice and object-storage HTTP.
//!
//! Nothing here knows about FUSE. The filesystem layer calls [`SwiftClient`] and gets
//! [`SwiftError`]s back; turning those into errno values is the adapter's business.

mod auth;
mod client;
mod error;
mod faults;
mod memory;
mod metadata;
mod names;
mod retry;
mod secret;
mod store;
mod tls;
mod types;

pub use auth::{
    AuthVersion, CatalogEndpoint, ChosenEndpoint, Credentials, EndpointFilter, Interface, NameOrId,
    Session, V2Secret, V3Identity, V3Project, authenticate, choose_endpoint,
};
pub use client::{ClientConfig, SwiftClient};
pub use error::SwiftError;
pub use faults::{Effect, FaultStore, Op, Rule};
pub use memory::MemoryStore;
pub use metadata::{ListedMeta, MetaLimits, MetaOverflow, ObjectMeta, PosixAttrs, parse_time};
pub use names::{ContainerName, ObjectName};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use store::{
    ByteRange, FileRange, ListQuery, ObjectStore, ObjectStream, SegmentNames, SegmentPath,
    UploadBody,
};
pub use types::{
    AccountInfo, BulkDeleteLimits, ClusterInfo, ContainerInfo, CoreLimits, ListEntry, ListedObject,
    Manifest, ObjectInfo, Offered, SloLimits, SloSegment,
};
