pub mod fault_proxy;
pub mod lab;
pub mod mount;
pub mod tree;
pub mod v2_identity;
