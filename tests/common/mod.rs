pub mod v2_identity;
