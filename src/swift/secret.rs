//! Credentials that must never reach a log line, an error message or `Debug` output.

use std::fmt;

/// A password, API key, application-credential secret or token.
///
/// It deliberately implements neither `Display` nor a revealing `Debug`: the only way
/// to the value is [`Secret::expose`], which is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// As an HTTP header value marked sensitive, so that HTTP-level debug output
    /// (hyper, reqwest) prints `Sensitive` instead of the value.
    pub(crate) fn header_value(&self) -> reqwest::header::HeaderValue {
        // A token or key with bytes a header cannot carry would be refused by any
        // server; sending it blank makes that a clean 401 instead of a panic.
        let mut v = reqwest::header::HeaderValue::from_str(&self.0)
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
        v.set_sensitive(true);
        v
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
