//! What an operator can watch of a running mount: requests to Swift, retries, bytes
//! moved, uploads and folder markers in flight, latencies, the listing cache and the
//! files being written.
//!
//! [`Metrics`] is the one owner of these numbers. One is made per mount and handed to
//! the Swift client and the filesystem when they are built, rather than kept in a
//! process-wide registry: two clients in one process (the tests run many) then never
//! add to each other's counts. Each part counts what it alone sees, through the verbs
//! here, which keep the metric names and labels in one place; [`endpoint`] serves the
//! text at `--metrics-addr`.

pub mod endpoint;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The HTTP status code, or `none` when no answer came (refused, timed out, cut).
    status: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    retries: Counter,
    sent: Counter,
    received: Counter,
    uploads_in_flight: Gauge,
    upload_seconds: Histogram,
    first_byte_seconds: Histogram,
    markers_in_flight: Gauge,
    listing_hits: Counter,
    listing_misses: Counter,
    open_files: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("swiftmount"),
            requests: Family::default(),
            retries: Counter::default(),
            sent: Counter::default(),
            received: Counter::default(),
            uploads_in_flight: Gauge::default(),
            // 5 ms to 164 s: a small object takes milliseconds, a streamed segment
            // as long as the writing program takes to fill it
            upload_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            // 1 ms to 8 s
            first_byte_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            markers_in_flight: Gauge::default(),
            listing_hits: Counter::default(),
            listing_misses: Counter::default(),
            open_files: Gauge::default(),
        };
        m.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Requests to Swift, by method and HTTP status (none: no answer came)",
            self.requests.clone(),
        );
        r.register(
            "retries",
            "Attempts repeated after a passing failure (requests, logins, broken bodies)",
            self.retries.clone(),
        );
        r.register_with_unit(
            "sent",
            "Body bytes sent to Swift (object data, segments, manifests)",
            Unit::Bytes,
            self.sent.clone(),
        );
        r.register_with_unit(
            "received",
            "Body bytes read from Swift (object data and listings)",
            Unit::Bytes,
            self.received.clone(),
        );
        r.register(
            "uploads_in_flight",
            "PUTs with a body (objects, segments, manifests, folder markers) waiting for Swift's answer",
            self.uploads_in_flight.clone(),
        );
        r.register_with_unit(
            "upload_duration",
            "Time from sending a PUT with a body to Swift's answer",
            Unit::Seconds,
            self.upload_seconds.clone(),
        );
        r.register_with_unit(
            "first_byte",
            "Time from sending a GET of an object to the answer's first byte (its headers)",
            Unit::Seconds,
            self.first_byte_seconds.clone(),
        );
        r.register(
            "folder_markers_in_flight",
            "Markers of folders made by mkdir being stored in the background",
            self.markers_in_flight.clone(),
        );
        r.register(
            "listing_cache_hits",
            "Lookups and folder reads answered from a cached listing",
            self.listing_hits.clone(),
        );
        r.register(
            "listing_cache_misses",
            "Lookups and folder reads that had to ask Swift",
            self.listing_misses.clone(),
        );
        r.register(
            "open_files",
            "Files being written through the mount (open, or their upload still running)",
            self.open_files.clone(),
        );
        self
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// One request to Swift was answered with `status`, or got no answer (`None`).
    pub fn request(&self, method: &str, status: Option<u16>) {
        let labels = RequestLabels {
            method: method.to_string(),
            status: status.map_or_else(|| "none".to_string(), |s| s.to_string()),
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub fn retried(&self) {
        self.retries.inc();
    }

    pub fn sent(&self, bytes: u64) {
        self.sent.inc_by(bytes);
    }

    pub fn received(&self, bytes: u64) {
        self.received.inc_by(bytes);
    }

    /// An upload goes out; it counts as in flight until the guard is dropped.
    pub fn upload_in_flight(&self) -> InFlight {
        InFlight::new(&self.uploads_in_flight)
    }

    pub fn upload_answered(&self, took: Duration) {
        self.upload_seconds.observe(took.as_secs_f64());
    }

    pub fn first_byte(&self, took: Duration) {
        self.first_byte_seconds.observe(took.as_secs_f64());
    }

    /// A folder marker's PUT starts; in flight until the guard is dropped.
    pub fn marker_in_flight(&self) -> InFlight {
        InFlight::new(&self.markers_in_flight)
    }

    pub fn listing_cache(&self, hit: bool) {
        if hit {
            self.listing_hits.inc();
        } else {
            self.listing_misses.inc();
        }
    }

    /// The open-file registry's size, set by the registry itself after each change.
    pub fn open_files(&self, n: usize) {
        self.open_files.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// One more of something in flight while it lives: dropped however the work ends
/// (answered, failed, or its future dropped), so the gauge never drifts.
#[must_use = "the work counts as in flight only while this lives"]
pub struct InFlight(Gauge);

impl InFlight {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_the_names_an_operator_scrapes() {
        let m = Metrics::default();
        m.request("GET", Some(200));
        m.request("GET", Some(200));
        m.request("PUT", None);
        m.sent(10);
        m.listing_cache(true);
        let upload = m.upload_in_flight();
        m.upload_answered(Duration::from_millis(30));
        let text = m.text();
        for line in [
            "swiftmount_requests_total{method=\"GET\",status=\"200\"} 2",
            "swiftmount_requests_total{method=\"PUT\",status=\"none\"} 1",
            "swiftmount_sent_bytes_total 10",
            "swiftmount_listing_cache_hits_total 1",
            "swiftmount_listing_cache_misses_total 0",
            "swiftmount_uploads_in_flight 1",
            "swiftmount_upload_duration_seconds_count 1",
            "swiftmount_upload_duration_seconds_bucket{le=\"0.04\"} 1",
            "swiftmount_first_byte_seconds_count 0",
            "# TYPE swiftmount_open_files gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
        drop(upload);
        assert!(
            m.text()
                .lines()
                .any(|l| l == "swiftmount_uploads_in_flight 0")
        );
    }
}
