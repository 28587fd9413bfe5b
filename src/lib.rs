pub mod swift;
