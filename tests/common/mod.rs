pub mod fault_proxy;
pub mod lab;
pub mod model;
pub mod mount;
pub mod tls_proxy;
pub mod tree;
pub mod v2_identity;
