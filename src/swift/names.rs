//! Validated container and object names, so that nothing malformed reaches a URL.

use super::SwiftError;
use std::fmt;

/// A Swift container name: 1..=256 bytes, no `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerName(String);

impl ContainerName {
    pub fn new(name: impl Into<String>) -> Result<Self, SwiftError> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("a container name cannot be empty")
        } else if name.len() > 256 {
            Some("a container name is at most 256 bytes")
        } else if name.contains('/') {
            Some("a container name cannot contain '/'")
        } else if name == "." || name == ".." {
            Some("a container name cannot be '.' or '..'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(SwiftError::InvalidName { name, reason }),
            None => Ok(ContainerName(name)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Swift object name: 1..=1024 bytes of UTF-8.
///
/// The whole name becomes one URL path segment (a `/` inside it is sent as `%2F`, which
/// Swift decodes back), so the only names a URL cannot carry are `.` and `..`, which URL
/// normalisation would swallow.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName(String);

impl ObjectName {
    pub fn new(name: impl Into<String>) -> Result<Self, SwiftError> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("an object name cannot be empty")
        } else if name.len() > 1024 {
            Some("an object name is at most 1024 bytes")
        } else if name == "." || name == ".." {
            Some("an object name cannot be '.' or '..'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(SwiftError::InvalidName { name, reason }),
            None => Ok(ObjectName(name)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_rules() {
        assert!(ContainerName::new("backups").is_ok());
        assert!(ContainerName::new("").is_err());
        assert!(ContainerName::new("a/b").is_err());
        assert!(ContainerName::new("x".repeat(257)).is_err());
        assert!(ContainerName::new("x".repeat(256)).is_ok());
    }

    #[test]
    fn object_rules() {
        assert!(ObjectName::new("a/b c/%?#é").is_ok());
        assert!(ObjectName::new("").is_err());
        assert!(ObjectName::new("..").is_err());
        assert!(ObjectName::new("a/../b").is_ok());
        assert!(ObjectName::new("x".repeat(1025)).is_err());
    }
}
