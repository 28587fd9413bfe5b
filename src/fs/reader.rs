//! Reading one open file: parallel ranged GETs ahead of a sequential reader, one
//! ranged GET of just the range asked for on random access, and memory bounded
//! either way.
//!
//! A sequential reader is served from *parts*: ranged GETs issued ahead of it, each
//! its own request (and connection), several in flight at once, so that a link
//! where one stream is slow (a long round trip, a per-connection limit) is filled
//! by several. How far ahead the parts reach (the *window*) starts small, so a
//! reader that stops early (`file`, `head`) costs little, and doubles each time the
//! reader passes the end of a part, up to [`WINDOW_MAX`]. A read that lands
//! neither in the parts nor where the last one ended is random access: the parts
//! are dropped, the window starts small again, and that read alone is one ranged
//! GET. (The shape follows awslabs/mountpoint-s3's prefetcher: a growing window of
//! requests, reset on a seek.)
//!
//! Every GET carries `If-Match` with the ETag the open saw (Swift compares it with
//! a large object's own ETag too), so a reader never gets bytes of two versions:
//! once the object is replaced, its reads fail with ESTALE.
//!
//! The kernel sends reads of up to 1 MiB, several at once and not always in order
//! (FUSE async reads), so parts are kept until the reader is [`BEHIND_MAX`] past
//! them. Part boundaries fall on multiples of 1 MiB, so a read the kernel sends
//! lies in one part and is answered with a slice of it, without a copy.
//!
//! Memory per open file: at most `WINDOW_MAX + PART_MAX` ahead of the last read,
//! plus `BEHIND_MAX + PART_MAX` behind it (28 MiB), plus the bytes the open fetched.

use crate::swift::{ContainerName, ObjectName, ObjectStore, SwiftError};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The window of a new sequential stream, and of one after a seek.
const FIRST_WINDOW: u64 = 1 << 20;
/// The furthest the parts reach ahead of the last read.
const WINDOW_MAX: u64 = 16 << 20;
/// The largest part: with the window at its largest, four to five GETs in flight.
const PART_MAX: u64 = 4 << 20;
/// How far behind the last read parts are kept, for reads that arrive out of order.
const BEHIND_MAX: u64 = 4 << 20;

pub struct Reader {
    store: Arc<dyn ObjectStore>,
    container: ContainerName,
    object: ObjectName,
    size: u64,
    /// Pins the version opened (`If-Match`).
    etag: Option<String>,
    /// The object's first bytes, fetched at open together with its headers: small
    /// files are read from here without another request. Dropped once reads go past it.
    head: Bytes,
    /// The stream's GETs, in order and contiguous, ending at `requested`.
    parts: VecDeque<Part>,
    requested: u64,
    window: u64,
    /// The end of the last part whose passing grew the window.
    grown_at: u64,
    last_end: Option<u64>,
}

/// One ranged GET of `[start, end)`, running or done.
struct Part {
    start: u64,
    end: u64,
    data: PartData,
}

enum PartData {
    Pending(JoinHandle<Result<Bytes, SwiftError>>),
    /// Shorter than the range only if the object ended early (it shrank since it
    /// was opened, which a pin rules out for objects with an ETag).
    Ready(Bytes),
}

impl Drop for Part {
    fn drop(&mut self) {
        // a part nobody will read is not worth its bandwidth
        if let PartData::Pending(task) = &self.data {
            task.abort();
        }
    }
}

impl Reader {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        container: ContainerName,
        object: ObjectName,
        size: u64,
        etag: Option<String>,
        head: Bytes,
    ) -> Self {
        Reader {
            store,
            container,
            object,
            size,
            etag,
            head,
            parts: VecDeque::new(),
            requested: 0,
            window: FIRST_WINDOW,
            grown_at: 0,
            last_end: None,
        }
    }

    pub async fn read(&mut self, offset: u64, len: u32) -> Result<Bytes, SwiftError> {
        if offset >= self.size || len == 0 {
            return Ok(Bytes::new());
        }
        let end = (offset + u64::from(len)).min(self.size);
        let head_len = self.head.len() as u64;
        if offset < head_len {
            let from_head = self.head.slice(offset as usize..end.min(head_len) as usize);
            if end <= head_len {
                self.last_end = Some(end);
                return Ok(from_head);
            }
            // the rest follows on from the head, as a sequential read would
            self.last_end = Some(head_len);
            let rest = self.read_past_head(head_len, end).await?;
            let mut out = BytesMut::with_capacity(from_head.len() + rest.len());
            out.extend_from_slice(&from_head);
            out.extend_from_slice(&rest);
            return Ok(out.freeze());
        }
        self.read_past_head(offset, end).await
    }

    async fn read_past_head(&mut self, offset: u64, end: u64) -> Result<Bytes, SwiftError> {
        // well past the head, reads will not come back to it: give the memory back
        if !self.head.is_empty() && offset >= self.head.len() as u64 + BEHIND_MAX {
            self.head = Bytes::new();
        }
        let in_stream = self
            .parts
            .front()
            .is_some_and(|p| offset >= p.start && offset <= self.requested);
        if !in_stream {
            self.parts.clear();
            self.window = FIRST_WINDOW;
            let sequential = offset == 0 || self.last_end == Some(offset);
            if !sequential {
                self.last_end = Some(end);
                return self
                    .store
                    .get_range(
                        &self.container,
                        &self.object,
                        offset..end,
                        self.etag.as_deref(),
                    )
                    .await;
            }
            self.requested = offset;
            self.grown_at = offset;
        }
        self.fill(end);
        let result = self.collect(offset, end).await;
        if result.is_err() {
            // a failed part is not asked for again here (the store has retried it):
            // the next read starts afresh
            self.parts.clear();
            self.window = FIRST_WINDOW;
        } else {
            self.grow(end);
            self.trim(end);
            self.fill(end);
        }
        self.last_end = Some(end);
        result
    }

    /// Issues parts until they reach the window's width past `pos`.
    fn fill(&mut self, pos: u64) {
        while self.requested < self.size && self.requested < pos + self.window {
            let start = self.requested;
            let len = self.window.min(PART_MAX);
            // aligned, so that the kernel's reads do not straddle two parts
            let end = ((start / len + 1) * len).min(self.size);
            let task = tokio::spawn(fetch(
                self.store.clone(),
                self.container.clone(),
                self.object.clone(),
                self.etag.clone(),
                start..end,
            ));
            self.parts.push_back(Part {
                start,
                end,
                data: PartData::Pending(task),
            });
            self.requested = end;
        }
    }

    /// The reader passed the end of a part it had not passed before: it is
    /// sequential, so it gets a wider window.
    fn grow(&mut self, pos: u64) {
        for p in &self.parts {
            if p.end <= pos && p.end > self.grown_at {
                self.grown_at = p.end;
                self.window = (self.window * 2).min(WINDOW_MAX);
            }
        }
    }

    /// Drops the parts [`BEHIND_MAX`] behind `pos`.
    fn trim(&mut self, pos: u64) {
        while self
            .parts
            .front()
            .is_some_and(|p| p.end + BEHIND_MAX <= pos)
        {
            self.parts.pop_front();
        }
    }

    /// `[offset, end)` from the parts (which cover it): a slice of one part when it
    /// lies in one, else a copy. Short if the object ended early.
    async fn collect(&mut self, offset: u64, end: u64) -> Result<Bytes, SwiftError> {
        let first = self
            .parts
            .iter()
            .position(|p| p.end > offset)
            .expect("the parts cover the read");
        let mut out: Option<BytesMut> = None;
        let mut pos = offset;
        for part in self.parts.range_mut(first..) {
            if pos >= end {
                break;
            }
            let data = part.ready().await?;
            let from = (pos - part.start) as usize;
            let to = ((end.min(part.end) - part.start) as usize).min(data.len());
            let piece = data.slice(from.min(to)..to);
            let short = part.start + (data.len() as u64) < part.end;
            if out.is_none() && (short || end <= part.end) {
                return Ok(piece);
            }
            let buf = out.get_or_insert_with(|| BytesMut::with_capacity((end - offset) as usize));
            buf.extend_from_slice(&piece);
            pos += piece.len() as u64;
            if short {
                break;
            }
        }
        Ok(out.map(BytesMut::freeze).unwrap_or_default())
    }
}

impl Part {
    /// The part's bytes (a handle on them, not a copy), once its GET is done.
    async fn ready(&mut self) -> Result<Bytes, SwiftError> {
        if let PartData::Pending(task) = &mut self.data {
            let data = match task.await {
                Ok(result) => result?,
                Err(e) => {
                    return Err(SwiftError::Transfer {
                        what: format!("bytes {}..{}", self.start, self.end),
                        reason: format!("the GET's task ended: {e}"),
                    });
                }
            };
            self.data = PartData::Ready(data);
        }
        match &self.data {
            PartData::Ready(data) => Ok(data.clone()),
            PartData::Pending(_) => unreachable!("set just above"),
        }
    }
}

/// One part's GET (the store retries it and resumes a body that broke off).
async fn fetch(
    store: Arc<dyn ObjectStore>,
    container: ContainerName,
    object: ObjectName,
    etag: Option<String>,
    range: std::ops::Range<u64>,
) -> Result<Bytes, SwiftError> {
    match store
        .get_range(&container, &object, range, etag.as_deref())
        .await
    {
        // the object ended before this part: it shrank since it was opened
        Err(SwiftError::RangeNotSatisfiable(_)) => Ok(Bytes::new()),
        r => r,
    }
}
