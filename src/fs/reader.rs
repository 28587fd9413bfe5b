//! Reading one open file: ranged GETs for random access, a background stream for
//! sequential access, and memory bounded either way.
//!
//! The kernel sends reads of up to 1 MiB, several at once and not always in order
//! (FUSE async reads). So the reader keeps the last few MiB it passed on (`recent`),
//! reads on over small forward jumps, and only falls back to a fresh GET when a read
//! lands far from the stream. A first read at offset 0, or a read where the last one
//! ended, starts the stream; any other read is served by one ranged GET of just
//! that range, so random access never downloads the whole object.

use crate::swift::{ContainerName, ObjectName, ObjectStore, SwiftError};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Unit the stream hands over; also what bounds the look-ahead.
const PIECE: usize = 256 * 1024;
/// Pieces buffered ahead of the reader: 8 MiB.
const AHEAD_PIECES: usize = 32;
/// First GET window of a sequential stream: a reader that stops early (`file`,
/// `head`) costs little. The next request asks for the rest of the object: one
/// request means no gap between requests, and the bounded queue keeps memory flat.
const FIRST_WINDOW: u64 = 1 << 20;
/// Bytes kept behind the stream for reads that arrive out of order.
const RECENT_MAX: usize = 4 << 20;
/// A forward jump up to this far is read through rather than re-requested.
const SKIP_MAX: u64 = 16 << 20;

pub struct Reader {
    store: Arc<dyn ObjectStore>,
    container: ContainerName,
    object: ObjectName,
    size: u64,
    /// Pins the version opened (`If-Match`); `None` for large-object manifests,
    /// whose ETag is not comparable with a GET's.
    etag: Option<String>,
    /// The object's first bytes, fetched at open together with its headers: small
    /// files are read from here without another request. Dropped once reads go past it.
    head: Bytes,
    stream: Option<Prefetch>,
    /// Bytes just behind the stream: contiguous, ending at the stream's position.
    recent: VecDeque<Bytes>,
    recent_len: usize,
    last_end: Option<u64>,
}

struct Prefetch {
    rx: mpsc::Receiver<Result<Bytes, SwiftError>>,
    task: JoinHandle<()>,
    /// Offset of the first byte of `pending`.
    next: u64,
    pending: Bytes,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
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
            stream: None,
            recent: VecDeque::new(),
            recent_len: 0,
            last_end: None,
        }
    }

    fn recent_start(&self) -> u64 {
        self.stream
            .as_ref()
            .map_or(0, |s| s.next - self.recent_len as u64)
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
            let mut out = BytesMut::with_capacity((end - offset) as usize);
            out.extend_from_slice(&from_head);
            out.extend_from_slice(&rest);
            return Ok(out.freeze());
        }
        self.read_past_head(offset, end).await
    }

    async fn read_past_head(&mut self, offset: u64, end: u64) -> Result<Bytes, SwiftError> {
        // well past the head, reads will not come back to it: give the memory back
        if !self.head.is_empty() && offset >= (self.head.len() + RECENT_MAX) as u64 {
            self.head = Bytes::new();
        }
        let usable = self
            .stream
            .as_ref()
            .is_some_and(|s| offset >= self.recent_start() && offset <= s.next + SKIP_MAX);
        if !usable {
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
            self.start_stream(offset);
        }
        let result = self.read_from_stream(offset, end).await;
        if result.is_err() {
            // a failed stream is not resumed here: the next read starts afresh
            self.stream = None;
            self.recent.clear();
            self.recent_len = 0;
        }
        self.last_end = Some(end);
        result
    }

    fn start_stream(&mut self, offset: u64) {
        let (tx, rx) = mpsc::channel(AHEAD_PIECES);
        let task = tokio::spawn(stream_task(
            self.store.clone(),
            self.container.clone(),
            self.object.clone(),
            self.etag.clone(),
            offset,
            self.size,
            tx,
        ));
        self.stream = Some(Prefetch {
            rx,
            task,
            next: offset,
            pending: Bytes::new(),
        });
        self.recent.clear();
        self.recent_len = 0;
    }

    async fn read_from_stream(&mut self, offset: u64, end: u64) -> Result<Bytes, SwiftError> {
        let mut out = BytesMut::with_capacity((end - offset) as usize);
        let stream_next = self.stream.as_ref().expect("stream started").next;
        if offset < stream_next {
            self.copy_recent(offset, end.min(stream_next), &mut out);
        }
        // read through a forward jump, keeping what is passed over in `recent`
        while self.stream.as_ref().expect("stream").next < offset {
            let gap = offset - self.stream.as_ref().expect("stream").next;
            let Some(piece) = self.take(gap).await? else {
                return Ok(out.freeze());
            };
            self.remember(piece);
        }
        while offset + (out.len() as u64) < end {
            let want = end - offset - out.len() as u64;
            let Some(piece) = self.take(want).await? else {
                break; // the object ended early: it shrank since it was opened
            };
            out.extend_from_slice(&piece);
            self.remember(piece);
        }
        Ok(out.freeze())
    }

    /// Up to `max` bytes from the stream; `None` at its end.
    async fn take(&mut self, max: u64) -> Result<Option<Bytes>, SwiftError> {
        let s = self.stream.as_mut().expect("stream");
        if s.pending.is_empty() {
            match s.rx.recv().await {
                Some(Ok(piece)) => s.pending = piece,
                Some(Err(e)) => return Err(e),
                None => return Ok(None),
            }
        }
        let n = (max as usize).min(s.pending.len());
        let piece = s.pending.split_to(n);
        s.next += n as u64;
        Ok(Some(piece))
    }

    fn remember(&mut self, piece: Bytes) {
        self.recent_len += piece.len();
        self.recent.push_back(piece);
        while self.recent_len > RECENT_MAX {
            let old = self
                .recent
                .pop_front()
                .expect("non-empty while over the cap");
            self.recent_len -= old.len();
        }
    }

    /// Appends `[from, to)` from `recent` (the caller checked it is covered).
    fn copy_recent(&self, from: u64, to: u64, out: &mut BytesMut) {
        let mut pos = self.recent_start();
        for piece in &self.recent {
            let piece_end = pos + piece.len() as u64;
            if piece_end > from && pos < to {
                let a = (from.max(pos) - pos) as usize;
                let b = (to.min(piece_end) - pos) as usize;
                out.extend_from_slice(&piece[a..b]);
            }
            pos = piece_end;
        }
    }
}

/// Fetches `[pos, end)` (a first window, then the rest) and hands it over in pieces
/// (the store resumes a body that broke off). Stops when the reader goes away.
async fn stream_task(
    store: Arc<dyn ObjectStore>,
    container: ContainerName,
    object: ObjectName,
    etag: Option<String>,
    mut pos: u64,
    end: u64,
    tx: mpsc::Sender<Result<Bytes, SwiftError>>,
) {
    let mut window = FIRST_WINDOW;
    let mut buf = BytesMut::new();
    while pos < end {
        let window_end = pos.saturating_add(window).min(end);
        let mut body = match store
            .get_object(&container, &object, Some(pos..window_end), etag.as_deref())
            .await
        {
            Ok(s) => s.body,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let window_start = pos;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    pos += chunk.len() as u64;
                    buf.extend_from_slice(&chunk);
                    while buf.len() >= PIECE {
                        if tx.send(Ok(buf.split_to(PIECE).freeze())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if pos == window_start {
            // the object ended early: it shrank since it was opened
            break;
        }
        window = u64::MAX;
    }
    if !buf.is_empty() {
        let _ = tx.send(Ok(buf.freeze())).await;
    }
}
