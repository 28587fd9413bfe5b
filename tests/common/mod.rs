pub mod lab;
pub mod v2_identity;
