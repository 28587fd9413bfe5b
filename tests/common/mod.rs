pub mod lab;
pub mod v2_identity;
pub mod mount;
