//! Sequential content past the memory buffer: a spill file in the cache directory,
//! and SLO segments uploaded from it while the program is still writing.
//!
//! Every byte goes to the spill file first (the page cache, not our memory). A
//! segment is uploaded once a byte past its end has been written, so a file that
//! ends within its first segment is one plain PUT at commit, without a manifest or a
//! segments container. Up to [`SEGMENTS_IN_FLIGHT`] segment uploads run at once,
//! each read from the file with [`ObjectStore::put_file_range`] (retried by the
//! client's one policy); a write that would start one more waits for the oldest.
//! A stored segment's range is punched out of the file; a segment whose upload failed
//! for good keeps its bytes and is sent again at the next commit, which fails (and
//! can be tried again) while any segment is missing. The spill file therefore holds
//! the segments in flight, the failed ones and the one being filled.

use super::FsError;
use super::writer::{UploadConfig, put_manifest};
use crate::swift::{
    FileRange, ObjectMeta, ObjectName, SegmentNames, SegmentPath, SloSegment, SwiftError,
};
use futures::StreamExt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Segment uploads running at once for one file.
pub const SEGMENTS_IN_FLIGHT: usize = 4;

pub struct Spill {
    cfg: UploadConfig,
    file: Arc<File>,
    names: SegmentNames,
    /// Bytes written: the content's size.
    len: u64,
    /// The segments whose every byte is in the file, in order (not the one being
    /// filled).
    parts: Vec<Part>,
}

struct Part {
    path: SegmentPath,
    start: u64,
    len: u64,
    state: PartState,
}

enum PartState {
    Uploading(JoinHandle<Result<String, SwiftError>>),
    Stored(String),
    /// The upload failed after the client's retries; the bytes are still in the file.
    Failed,
}

impl Spill {
    /// A spill file holding `first` (the content so far).
    pub async fn new(
        cfg: &UploadConfig,
        object: &ObjectName,
        first: &[u8],
    ) -> Result<Self, FsError> {
        let file = Arc::new(tempfile::tempfile_in(&cfg.cache_dir)?);
        let mut spill = Spill {
            names: SegmentNames::new(&cfg.segment_container, object),
            cfg: cfg.clone(),
            file,
            len: 0,
            parts: Vec::new(),
        };
        spill.append(first).await?;
        Ok(spill)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `data`, and starts the uploads of the segments it completes. An error
    /// is the spill file's (the cache directory is full): the bytes are not taken.
    pub async fn append(&mut self, data: &[u8]) -> Result<(), FsError> {
        let at = self.len;
        tokio::task::block_in_place(|| self.file.write_all_at(data, at))?;
        self.len += data.len() as u64;
        let plan = self.cfg.plan;
        while plan.end(self.parts.len() as u32) < self.len {
            self.start_part().await?;
        }
        Ok(())
    }

    /// Starts the upload of the next segment, once fewer than the most are running.
    async fn start_part(&mut self) -> Result<(), SwiftError> {
        while self.in_flight() >= SEGMENTS_IN_FLIGHT {
            let oldest = self
                .parts
                .iter()
                .position(|p| matches!(p.state, PartState::Uploading(_)))
                .expect("some are in flight");
            self.settle(oldest).await;
        }
        let index = self.parts.len() as u32;
        let part = Part {
            path: self.names.segment(index)?,
            start: self.cfg.plan.start(index),
            len: self.cfg.plan.size(index),
            state: PartState::Failed,
        };
        let task = tokio::spawn(upload(
            self.cfg.clone(),
            self.range(&part),
            part.path.clone(),
        ));
        self.parts.push(Part {
            state: PartState::Uploading(task),
            ..part
        });
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| matches!(p.state, PartState::Uploading(_)))
            .count()
    }

    fn range(&self, part: &Part) -> FileRange {
        FileRange {
            file: self.file.clone(),
            start: part.start,
            len: part.len,
        }
    }

    /// Waits for part `i`'s upload: stored (its bytes leave the file) or failed.
    async fn settle(&mut self, i: usize) {
        let part = &mut self.parts[i];
        let PartState::Uploading(task) = &mut part.state else {
            return;
        };
        part.state = match join(task).await {
            Ok(etag) => {
                punch_hole(&self.file, part.start, part.len);
                PartState::Stored(etag)
            }
            Err(e) => {
                log::warn!(
                    "segment {} ({} bytes): {e}; it is sent again at the next close or fsync",
                    part.path,
                    part.len
                );
                PartState::Failed
            }
        };
    }

    async fn settle_all(&mut self) {
        for i in 0..self.parts.len() {
            self.settle(i).await;
        }
    }

    /// Stores the content under `object`: one PUT if it ends within the first
    /// segment, else the last segment, any that failed before, and the manifest.
    /// Returns the ETag and whether it is a large object. On failure everything
    /// stays as it was, for the next commit.
    pub async fn commit(
        &mut self,
        object: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(String, bool), SwiftError> {
        let cfg = &self.cfg;
        if self.parts.is_empty() {
            let whole = FileRange {
                file: self.file.clone(),
                start: 0,
                len: self.len,
            };
            let etag = cfg
                .store
                .put_file_range(&cfg.container, object, &whole, meta)
                .await?;
            return Ok((etag, false));
        }
        // the last segment goes up while the others finish
        let index = self.parts.len() as u32;
        let tail = Part {
            path: self.names.segment(index)?,
            start: cfg.plan.start(index),
            len: self.len - cfg.plan.start(index),
            state: PartState::Failed,
        };
        let mut tail_task = tokio::spawn(upload(cfg.clone(), self.range(&tail), tail.path.clone()));
        self.settle_all().await;
        let resends: Vec<_> = (0..self.parts.len())
            .filter(|&i| matches!(self.parts[i].state, PartState::Failed))
            .map(|i| {
                let part = &self.parts[i];
                let job = upload(self.cfg.clone(), self.range(part), part.path.clone());
                async move { (i, job.await) }
            })
            .collect();
        let mut resent = futures::stream::iter(resends).buffer_unordered(SEGMENTS_IN_FLIGHT);
        let mut first_error = None;
        while let Some((i, result)) = resent.next().await {
            let part = &mut self.parts[i];
            match result {
                Ok(etag) => {
                    log::info!("segment {} stored at the second try", part.path);
                    punch_hole(&self.file, part.start, part.len);
                    part.state = PartState::Stored(etag);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(resent);
        let tail_etag = join(&mut tail_task).await;
        if let Some(e) = first_error {
            return Err(e);
        }
        // the tail is not kept as a part: more writes may still extend it
        let tail_etag = tail_etag?;
        let mut segments: Vec<SloSegment> = self
            .parts
            .iter()
            .map(|p| match &p.state {
                PartState::Stored(etag) => SloSegment::new(&p.path, etag.clone(), p.len),
                _ => unreachable!("every part settled and stored above"),
            })
            .collect();
        segments.push(SloSegment::new(&tail.path, tail_etag, tail.len));
        put_manifest(&self.cfg, object, &segments, meta).await
    }

    /// Fills the file's holes back from the segments stored, so that it holds the
    /// whole content, and gives it up; the segments are then deleted in the
    /// background. On failure nothing is lost: the content is as it was.
    pub async fn restore_whole(&mut self) -> Result<(Arc<File>, u64), FsError> {
        self.settle_all().await;
        for part in &self.parts {
            if let PartState::Stored(etag) = &part.state {
                download_into(&self.cfg, part, etag, &self.file).await?;
            }
        }
        for part in &mut self.parts {
            // the bytes are in the file again: the segments are not needed
            part.state = PartState::Failed;
        }
        self.delete_segments();
        Ok((self.file.clone(), self.len))
    }

    /// Stops the uploads; what was stored is deleted in the background.
    pub fn abort(mut self) {
        for part in &mut self.parts {
            if let PartState::Uploading(task) = &part.state {
                task.abort();
            }
        }
        self.delete_segments();
    }

    /// Deletes every segment this upload may have stored (an upload whose answer was
    /// lost stored one too), in the background.
    fn delete_segments(&mut self) {
        let paths: Vec<SegmentPath> = self.parts.drain(..).map(|p| p.path).collect();
        let store = self.cfg.store.clone();
        tokio::spawn(async move {
            for p in paths {
                if let Err(e) = store.delete_segment(&p).await {
                    if !matches!(e, SwiftError::NotFound(_)) {
                        log::warn!("could not delete segment {p}: {e}");
                    }
                }
            }
        });
    }
}

/// One segment's upload from the spill file.
async fn upload(
    cfg: UploadConfig,
    part: FileRange,
    path: SegmentPath,
) -> Result<String, SwiftError> {
    cfg.ensure_segment_container().await?;
    cfg.store
        .put_file_range(&path.container, &path.object, &part, &ObjectMeta::default())
        .await
}

async fn join(task: &mut JoinHandle<Result<String, SwiftError>>) -> Result<String, SwiftError> {
    task.await.map_err(|e| SwiftError::Transfer {
        what: "segment upload task".into(),
        reason: e.to_string(),
    })?
}

/// Writes a stored segment's bytes back where they came from in the file.
async fn download_into(
    cfg: &UploadConfig,
    part: &Part,
    etag: &str,
    file: &File,
) -> Result<(), FsError> {
    let mut stream = cfg
        .store
        .get_object(&part.path.container, &part.path.object, None, Some(etag))
        .await?;
    let mut at = part.start;
    while let Some(chunk) = stream.body.next().await {
        let chunk = chunk?;
        tokio::task::block_in_place(|| file.write_all_at(&chunk, at))?;
        at += chunk.len() as u64;
    }
    if at != part.start + part.len {
        return Err(SwiftError::Transfer {
            what: part.path.to_string(),
            reason: format!("{} bytes read back of {}", at - part.start, part.len),
        }
        .into());
    }
    Ok(())
}

/// Gives back the cache directory's space (and drops the dirty pages) of a range
/// Swift now holds. Best effort: a file system without hole punching keeps the bytes
/// until the spill file is dropped.
#[cfg(target_os = "linux")]
fn punch_hole(file: &File, start: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(start), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: fallocate on an open descriptor we own; it only changes that file.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            start,
            len,
        )
    };
    if rc != 0 {
        log::debug!("punching the spill file: {}", io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn punch_hole(_file: &File, _start: u64, _len: u64) {}
