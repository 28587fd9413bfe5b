pub mod fault_proxy;
pub mod files;
pub mod lab;
pub mod mount;
pub mod objects;
pub mod tls_proxy;
pub mod tree;
pub mod v2_identity;
