//! Choosing the object-store endpoint from a Keystone service catalog.
//!
//! The rule users rely on (Duplicati documents it): among the endpoints of the chosen
//! interface, the first whose region matches the requested one case-insensitively,
//! else the first endpoint of that interface.

use crate::swift::SwiftError;
use std::fmt;
use std::str::FromStr;

/// Which of an endpoint's URLs to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interface {
    #[default]
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interface {
    type Err = String;

    /// Accepts keystone's names and the v2 / openstacksdk spellings (`publicURL`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "public" | "publicurl" => Ok(Interface::Public),
            "internal" | "internalurl" => Ok(Interface::Internal),
            "admin" | "adminurl" => Ok(Interface::Admin),
            _ => Err(format!(
                "unknown endpoint interface {s:?} (expected public, internal or admin)"
            )),
        }
    }
}

/// How to pick an endpoint out of a catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointFilter {
    pub region: Option<String>,
    pub interface: Interface,
}

/// One object-store endpoint of a catalog, normalised across Keystone v2 and v3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEndpoint {
    pub region: Option<String>,
    pub interface: Interface,
    pub url: String,
}

/// The endpoint that was chosen, and whether the requested region matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenEndpoint {
    pub url: String,
    pub region: Option<String>,
    pub region_matched: bool,
}

/// Applies the region rule to the object-store endpoints of a catalog, in catalog order.
pub fn choose_endpoint(
    endpoints: &[CatalogEndpoint],
    filter: &EndpointFilter,
) -> Result<ChosenEndpoint, SwiftError> {
    let of_interface: Vec<&CatalogEndpoint> = endpoints
        .iter()
        .filter(|e| e.interface == filter.interface)
        .collect();
    let first = of_interface.first().ok_or_else(|| {
        let wanted = match &filter.region {
            Some(r) => format!("wanted interface {} in region {r}", filter.interface),
            None => format!("wanted interface {}", filter.interface),
        };
        if endpoints.is_empty() {
            SwiftError::NoEndpoint(format!("the catalog lists none; {wanted}"))
        } else {
            SwiftError::NoEndpoint(format!(
                "{wanted}, the catalog has only {}",
                endpoints
                    .iter()
                    .map(|e| e.interface.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    })?;
    if let Some(wanted) = &filter.region {
        if let Some(hit) = of_interface.iter().find(|e| {
            e.region
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(wanted))
        }) {
            return Ok(ChosenEndpoint {
                url: hit.url.clone(),
                region: hit.region.clone(),
                region_matched: true,
            });
        }
        log::warn!(
            "region {wanted:?} not in the catalog (has {:?}); using the first endpoint, region {:?}",
            of_interface
                .iter()
                .filter_map(|e| e.region.as_deref())
                .collect::<Vec<_>>(),
            first.region
        );
    }
    Ok(ChosenEndpoint {
        url: first.url.clone(),
        region: first.region.clone(),
        region_matched: filter.region.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(region: &str, interface: Interface, url: &str) -> CatalogEndpoint {
        CatalogEndpoint {
            region: Some(region.to_string()),
            interface,
            url: url.to_string(),
        }
    }

    fn catalog() -> Vec<CatalogEndpoint> {
        vec![
            ep("RegionOne", Interface::Admin, "http://one-admin"),
            ep("RegionOne", Interface::Public, "http://one"),
            ep("RegionTwo", Interface::Public, "http://two"),
            ep("RegionTwo", Interface::Internal, "http://two-internal"),
        ]
    }

    fn filter(region: Option<&str>, interface: Interface) -> EndpointFilter {
        EndpointFilter {
            region: region.map(str::to_string),
            interface,
        }
    }

    #[test]
    fn region_matches_case_insensitively() {
        let c = choose_endpoint(&catalog(), &filter(Some("regiontwo"), Interface::Public)).unwrap();
        assert_eq!(c.url, "http://two");
        assert!(c.region_matched);
    }

    #[test]
    fn unknown_region_falls_back_to_first_of_interface() {
        let c = choose_endpoint(&catalog(), &filter(Some("Mars"), Interface::Public)).unwrap();
        assert_eq!(c.url, "http://one");
        assert!(!c.region_matched);
    }

    #[test]
    fn no_region_takes_first_of_interface() {
        let c = choose_endpoint(&catalog(), &filter(None, Interface::Internal)).unwrap();
        assert_eq!(c.url, "http://two-internal");
    }

    #[test]
    fn empty_catalog_is_an_error_naming_the_region() {
        let err = choose_endpoint(&[], &filter(Some("Mars"), Interface::Public)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Mars"), "{msg}");
        assert!(matches!(err, SwiftError::NoEndpoint(_)));
    }

    #[test]
    fn interface_names() {
        assert_eq!("publicURL".parse::<Interface>().unwrap(), Interface::Public);
        assert_eq!(
            "INTERNAL".parse::<Interface>().unwrap(),
            Interface::Internal
        );
        assert!("private".parse::<Interface>().is_err());
    }
}
