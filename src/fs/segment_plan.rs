//! Where the segments of a large object start and end.
//!
//! Segments begin at the configured `--segment-size` and double every tenth of
//! Swift's `max_manifest_segments`, never past its `max_file_size`: a manifest then
//! never holds more segments than Swift takes, and a file of any size Swift can hold
//! is one manifest (as goofys and geesefs grow their part sizes). The layout depends
//! only on the offset, so a segment can be uploaded as soon as its last byte is
//! written, before the file's size is known.

use crate::swift::ClusterInfo;

/// Swift's defaults when `/info` does not say.
const DEFAULT_MAX_SEGMENTS: u32 = 1000;
const DEFAULT_MAX_OBJECT: u64 = 5 << 30;
/// The segment size doubles this many times over a manifest of the largest size.
const DOUBLINGS: u32 = 10;
/// More segments than any Swift takes in one manifest: keeps the arithmetic short.
const MAX_SEGMENTS_CAP: u32 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    first: u64,
    max_segments: u32,
    max_object: u64,
}

impl SegmentPlan {
    /// `segment_size` is the first segment's; `max_segments` and `max_object` are
    /// Swift's limits (its defaults where `None`).
    pub fn new(segment_size: u64, max_segments: Option<u64>, max_object: Option<u64>) -> Self {
        let max_segments = max_segments
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_SEGMENTS)
            .clamp(1, MAX_SEGMENTS_CAP);
        let max_object = max_object.unwrap_or(DEFAULT_MAX_OBJECT).max(1);
        SegmentPlan {
            first: segment_size.clamp(1, max_object),
            max_segments,
            max_object,
        }
    }

    /// The plan for a cluster as its `/info` describes it.
    pub fn for_cluster(segment_size: u64, info: Option<&ClusterInfo>) -> Self {
        let max_segments = info
            .and_then(|i| i.slo.as_ref())
            .and_then(|s| s.max_manifest_segments);
        let max_object = info.and_then(|i| i.swift.max_file_size);
        SegmentPlan::new(segment_size, max_segments, max_object)
    }

    /// Segments of one size before the size doubles.
    fn run(&self) -> u32 {
        (self.max_segments / DOUBLINGS).max(1)
    }

    fn size_in_run(&self, run: u32) -> u64 {
        // past 2^40 times any first size the cap has long been reached
        self.first
            .saturating_mul(1 << run.min(40))
            .min(self.max_object)
    }

    /// The size of segment `index` (from 0); the last one of a file may be shorter.
    pub fn size(&self, index: u32) -> u64 {
        self.size_in_run(index / self.run())
    }

    /// Where segment `index` starts.
    pub fn start(&self, index: u32) -> u64 {
        let run = self.run();
        let full_runs = index / run;
        let mut start: u64 = 0;
        for r in 0..full_runs {
            start = start.saturating_add(self.size_in_run(r).saturating_mul(u64::from(run)));
        }
        start.saturating_add(
            self.size_in_run(full_runs)
                .saturating_mul(u64::from(index % run)),
        )
    }

    /// Where segment `index` ends (exclusive).
    pub fn end(&self, index: u32) -> u64 {
        self.start(index).saturating_add(self.size(index))
    }

    /// The largest file one manifest can hold.
    pub fn max_file_size(&self) -> u64 {
        self.start(self.max_segments)
    }

    /// A file of `size` bytes (more than the first segment) in segments: how many.
    pub fn count(&self, size: u64) -> u32 {
        let mut n = 0;
        while self.end(n) < size {
            n += 1;
        }
        n + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_double_every_tenth_of_the_limit_up_to_the_largest_object() {
        const MIB: u64 = 1 << 20;
        let p = SegmentPlan::new(64 * MIB, Some(1000), Some(5 << 30));
        assert_eq!(
            (p.size(0), p.size(99), p.size(100)),
            (64 * MIB, 64 * MIB, 128 * MIB)
        );
        assert_eq!(p.start(100), 100 * 64 * MIB);
        assert_eq!(p.start(101), 100 * 64 * MIB + 128 * MIB);
        assert_eq!(p.size(699), 4096 * MIB);
        assert_eq!(p.size(700), 5 << 30, "capped at Swift's largest object");
        assert_eq!(p.size(999), 5 << 30);
        // 100 segments each of 64 MiB .. 4 GiB, then 300 of 5 GiB
        assert_eq!(p.max_file_size(), 100 * 8128 * MIB + 300 * (5 << 30));
        for i in [0, 1, 99, 100, 555, 998] {
            assert_eq!(p.end(i), p.start(i + 1), "segment {i}");
        }
        assert_eq!(p.count(64 * MIB + 1), 2);
        assert_eq!(p.count(p.max_file_size()), 1000);
    }

    #[test]
    fn small_limits_and_odd_values() {
        // a limit under ten doubles every segment
        let p = SegmentPlan::new(1 << 20, Some(4), None);
        assert_eq!(
            (p.size(0), p.size(1), p.size(3)),
            (1 << 20, 2 << 20, 8 << 20)
        );
        assert_eq!(p.max_file_size(), 15 << 20);
        // a first segment over the largest object is cut to it
        let p = SegmentPlan::new(6 << 30, None, Some(1 << 30));
        assert_eq!(p.size(0), 1 << 30);
        assert_eq!(p.max_file_size(), 1000 << 30);
        // no overflow with absurd limits
        let p = SegmentPlan::new(5 << 30, Some(u64::MAX), Some(u64::MAX));
        assert_eq!(p.size(0), 5 << 30);
        assert!(p.max_file_size() > 1000 * (5 << 30));
    }
}
