//! The Raft log's entries on disk: an append-only log in segment files, `DATA_DIR/log/<first
//! index, 20 digits>.log`, each a run of frames `[record length: u32 LE][log index: u64 LE]
//! [record]`, the record being a `codec` record (format version, CRC-32, body).
//!
//! Why not a table in redb, where the vote, the committed id and the snapshots stay: a redb
//! commit rewrites the copy-on-write path of its B-trees, about seven pages in different places,
//! and its fsync costs three times the fsync of one appended page (0.40 against 0.13 ms here).
//! Every commit waits for two of them in a row, the leader's and then a follower's
//! (docs/performance.md).
//!
//! An append writes its frames at the end of the last segment with one `pwrite` and one
//! `fdatasync` before it returns, except a leader's append of its own entries, whose flush runs
//! beside replication ([`crate::log_flush`]). A segment longer than [`SEGMENT_BYTES`] is closed and the next
//! append starts a new one. Only openraft's core writes (append, truncate, purge), one call at a
//! time; readers (replication, the state machine) read frames already written, under the same
//! lock, with `pread`.
//!
//! Opening scans every segment and checks every frame. A frame that is cut short or does not
//! check at the end of the *last* segment is what a crash in the middle of an append leaves, or
//! a power loss before a leader's flush: nothing acknowledged is lost by cutting the segment
//! there, since nothing is acknowledged before it is durable (the cut is logged). Anywhere else, a frame that does not check is corruption, and opening fails naming
//! the file and the offset. Reads check each record's checksum again.

use std::fs::File;
use std::fs::OpenOptions;
use std::io;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use crate::codec;

/// A segment longer than this is closed; the next append starts a new one.
pub(crate) const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const FRAME_HEADER: usize = 12;

/// A segment grows by this many bytes of zeros at a time, ahead of the frames. An append that
/// stays inside the file changes no file metadata, so its `fdatasync` needs no journal commit:
/// with the three schedulers of a cluster on one filesystem, appends that grew the file waited
/// for each other's journal commits (W3 p99 3.7 -> 5.5 ms).
const GROWTH_BYTES: u64 = 1024 * 1024;

/// One segment file: the entries `first_index..first_index + offsets.len()`.
struct Segment {
    first_index: u64,
    path: PathBuf,
    /// Shared with the leader's flush thread ([`crate::log_flush`]).
    file: Arc<File>,
    /// Where each entry's frame starts.
    offsets: Vec<u64>,
    /// Where the next frame goes.
    len: u64,
    /// The file's size: zeros from `len` on, written ahead of the frames (see [`GROWTH_BYTES`]).
    allocated: u64,
}

impl Segment {
    /// Writes zeros past the end of the file so that it holds at least `size` bytes. Not synced
    /// here: the append that needs them syncs them with its frames.
    fn grow_to(&mut self, size: u64) -> io::Result<()> {
        if size <= self.allocated {
            return Ok(());
        }
        let target = size.div_ceil(GROWTH_BYTES) * GROWTH_BYTES;
        let zeros = vec![0u8; (target - self.allocated).min(GROWTH_BYTES) as usize];
        while self.allocated < target {
            let chunk = (target - self.allocated).min(zeros.len() as u64) as usize;
            self.file
                .write_all_at(&zeros[..chunk], self.allocated)
                .map_err(|e| annotate(e, "cannot grow", &self.path))?;
            self.allocated += chunk as u64;
        }
        Ok(())
    }

    fn last_index(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.first_index + self.offsets.len() as u64 - 1)
    }

    fn contains(&self, index: u64) -> bool {
        self.last_index()
            .is_some_and(|last| (self.first_index..=last).contains(&index))
    }
}

/// The entries of the log that are on disk.
pub(crate) struct LogFile {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// Entries at or below this index are purged (they may linger in a segment until all of its
    /// entries are).
    purged: Option<u64>,
    segment_bytes: u64,
}

/// A frame to append: the entry's index and its encoded record.
pub(crate) struct Frame<'a> {
    pub(crate) index: u64,
    pub(crate) record: &'a [u8],
}

impl LogFile {
    /// Opens (or creates) the log in `dir`, forgetting entries at or below `purged` and deleting
    /// the segments that hold nothing else.
    pub(crate) fn open(dir: &Path, purged: Option<u64>) -> io::Result<LogFile> {
        LogFile::open_with_segment_bytes(dir, purged, SEGMENT_BYTES)
    }

    pub(crate) fn open_with_segment_bytes(
        dir: &Path,
        purged: Option<u64>,
        segment_bytes: u64,
    ) -> io::Result<LogFile> {
        std::fs::create_dir_all(dir).map_err(|e| annotate(e, "cannot create", dir))?;
        let mut names = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| annotate(e, "cannot list", dir))? {
            let item = item.map_err(|e| annotate(e, "cannot list", dir))?;
            let name = item.file_name();
            let Some(first_index) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            names.push((first_index, item.path()));
        }
        names.sort();
        let mut log = LogFile {
            dir: dir.to_owned(),
            segments: Vec::with_capacity(names.len()),
            purged,
            segment_bytes,
        };
        let count = names.len();
        for (position, (first_index, path)) in names.into_iter().enumerate() {
            let is_last = position + 1 == count;
            let segment = scan_segment(first_index, path, is_last)?;
            if let Some(expected) = log.next_index() {
                if segment.first_index < expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "log segment {} starts at index {}, inside the one before, which \
                             ends at {}",
                            segment.path.display(),
                            segment.first_index,
                            expected - 1
                        ),
                    ));
                }
            }
            log.segments.push(segment);
        }
        log.delete_purged_segments()?;
        Ok(log)
    }

    /// The index the next append must start at, if any entry was ever written here.
    fn next_index(&self) -> Option<u64> {
        let last = self.segments.last()?;
        Some(last.first_index + last.offsets.len() as u64)
    }

    /// The last index on disk (purged or not).
    pub(crate) fn last_index(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(Segment::last_index)
    }

    /// Appends the frames, which must continue the log, and makes them durable.
    pub(crate) fn append(&mut self, frames: &[Frame<'_>]) -> io::Result<()> {
        self.write(frames, true).map(drop)
    }

    /// Appends the frames, which must continue the log, without flushing them; returns the file
    /// to flush (the leader's appends, [`crate::log_flush`]). Entries in an earlier segment are
    /// flushed before a new segment starts, so that only the last segment can end in entries
    /// that never reached the disk, which is what opening the log cuts off.
    pub(crate) fn append_unsynced(
        &mut self,
        frames: &[Frame<'_>],
    ) -> io::Result<Option<Arc<File>>> {
        self.write(frames, false)
    }

    /// Flushes the last segment (at start-up: a process that crashed may have left writes
    /// that never reached the disk).
    pub(crate) fn flush_last(&self) -> io::Result<()> {
        match self.segments.last() {
            Some(segment) => segment
                .file
                .sync_data()
                .map_err(|e| annotate(e, "cannot flush", &segment.path)),
            None => Ok(()),
        }
    }

    fn write(&mut self, frames: &[Frame<'_>], sync: bool) -> io::Result<Option<Arc<File>>> {
        let Some(first) = frames.first() else {
            return Ok(None);
        };
        if let Some(last) = self.last_index() {
            if first.index <= last {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "append at index {} would overwrite the log, which ends at {last} \
                         (truncate first)",
                        first.index
                    ),
                ));
            }
        }
        // openraft appends right after the last entry; a later index (which only openraft's
        // storage test suite asks for) starts a segment of its own, so that every segment
        // stays a run of consecutive entries.
        let needs_new_segment = match self.segments.last() {
            None => true,
            Some(last) => {
                last.len >= self.segment_bytes
                    || last.first_index + last.offsets.len() as u64 != first.index
            }
        };
        if needs_new_segment {
            if let Some(previous) = self.segments.last() {
                previous
                    .file
                    .sync_data()
                    .map_err(|e| annotate(e, "cannot flush", &previous.path))?;
            }
            self.start_segment(first.index)?;
        }
        let Some(segment) = self.segments.last_mut() else {
            return Err(io::Error::other("no segment to append to"));
        };
        if let Some((expected, frame)) = (first.index..)
            .zip(frames)
            .find(|(expected, frame)| frame.index != *expected)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "appended entries skip from {} to {}",
                    expected - 1,
                    frame.index
                ),
            ));
        }
        let size: usize = frames.iter().map(|f| FRAME_HEADER + f.record.len()).sum();
        segment.grow_to(segment.len + size as u64)?;
        let mut buffer = Vec::with_capacity(size);
        let mut offsets = Vec::with_capacity(frames.len());
        for frame in frames {
            let length = u32::try_from(frame.record.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("log entry {} is larger than 4 GiB", frame.index),
                )
            })?;
            offsets.push(segment.len + buffer.len() as u64);
            buffer.extend_from_slice(&length.to_le_bytes());
            buffer.extend_from_slice(&frame.index.to_le_bytes());
            buffer.extend_from_slice(frame.record);
        }
        segment
            .file
            .write_all_at(&buffer, segment.len)
            .and_then(|()| {
                if sync {
                    segment.file.sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| annotate(e, "cannot append to", &segment.path))?;
        segment.len += buffer.len() as u64;
        segment.offsets.extend(offsets);
        Ok(Some(segment.file.clone()))
    }

    fn start_segment(&mut self, first_index: u64) -> io::Result<()> {
        // An empty last segment (everything in it truncated or purged) is named for an index
        // the log no longer continues from: replace it rather than leave a gap on disk.
        if self.segments.last().is_some_and(|s| s.offsets.is_empty()) {
            if let Some(empty) = self.segments.pop() {
                std::fs::remove_file(&empty.path)
                    .map_err(|e| annotate(e, "cannot delete", &empty.path))?;
            }
        }
        let path = self.dir.join(format!("{first_index:020}.log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| annotate(e, "cannot create", &path))?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            first_index,
            path,
            file: Arc::new(file),
            offsets: Vec::new(),
            len: 0,
            allocated: 0,
        });
        Ok(())
    }

    /// The record of the entry at `index`, checked, or `None` if it is not in the log.
    pub(crate) fn read(&self, index: u64) -> io::Result<Option<Vec<u8>>> {
        if self.purged.is_some_and(|purged| index <= purged) {
            return Ok(None);
        }
        let Some(segment) = self.segments.iter().rev().find(|s| s.contains(index)) else {
            return Ok(None);
        };
        let position = (index - segment.first_index) as usize;
        let start = segment.offsets[position];
        let end = segment
            .offsets
            .get(position + 1)
            .copied()
            .unwrap_or(segment.len);
        let record_start = start + FRAME_HEADER as u64;
        let mut record = vec![0; end.saturating_sub(record_start) as usize];
        segment
            .file
            .read_exact_at(&mut record, record_start)
            .map_err(|e| annotate(e, "cannot read", &segment.path))?;
        Ok(Some(record))
    }

    /// Deletes the entries from `index` on, durably.
    pub(crate) fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        // Later segments go first, newest first: a crash part way leaves a log without gaps.
        while let Some(last) = self.segments.last() {
            if last.first_index < index || (last.first_index == index && self.segments.len() == 1) {
                break;
            }
            let path = last.path.clone();
            std::fs::remove_file(&path).map_err(|e| annotate(e, "cannot delete", &path))?;
            self.segments.pop();
        }
        sync_dir(&self.dir)?;
        if let Some(segment) = self.segments.last_mut() {
            if index <= segment.first_index {
                segment.offsets.clear();
                segment.len = 0;
            } else if let Some(&cut) = segment.offsets.get((index - segment.first_index) as usize) {
                segment
                    .offsets
                    .truncate((index - segment.first_index) as usize);
                segment.len = cut;
            } else {
                return Ok(());
            }
            segment
                .file
                .set_len(segment.len)
                .and_then(|()| segment.file.sync_all())
                .map_err(|e| annotate(e, "cannot truncate", &segment.path))?;
            segment.allocated = segment.len;
        }
        Ok(())
    }

    /// Forgets the entries up to `index` and deletes the segments that hold nothing else. The
    /// caller records `index` durably first, so that a crash part way is finished at the next
    /// open.
    pub(crate) fn purge_upto(&mut self, index: u64) -> io::Result<()> {
        self.purged = Some(self.purged.map_or(index, |purged| purged.max(index)));
        self.delete_purged_segments()
    }

    fn delete_purged_segments(&mut self) -> io::Result<()> {
        let Some(purged) = self.purged else {
            return Ok(());
        };
        let mut deleted = false;
        // The last segment stays even when every entry in it is purged: it is where the next
        // append goes (an empty one is restarted at the right index by that append).
        while self.segments.len() > 1
            && self.segments[0]
                .last_index()
                .is_none_or(|last| last <= purged)
        {
            let segment = self.segments.remove(0);
            std::fs::remove_file(&segment.path)
                .map_err(|e| annotate(e, "cannot delete", &segment.path))?;
            deleted = true;
        }
        if let [only] = self.segments.as_mut_slice() {
            if only.last_index().is_some_and(|last| last <= purged) {
                // Everything is purged: start the segment over, so that it never holds
                // entries far below the next one.
                only.file
                    .set_len(0)
                    .and_then(|()| only.file.sync_all())
                    .map_err(|e| annotate(e, "cannot truncate", &only.path))?;
                only.offsets.clear();
                only.len = 0;
                only.allocated = 0;
            }
        }
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// Reads and checks every frame of one segment. At the end of the last segment a frame that is
/// cut short or does not check is cut off (a crash during an append); anywhere else it is an
/// error naming the file and the offset.
fn scan_segment(first_index: u64, path: PathBuf, is_last: bool) -> io::Result<Segment> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| annotate(e, "cannot open", &path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| annotate(e, "cannot read", &path))?;
    let mut offsets = Vec::new();
    let mut at = 0usize;
    let mut problem = None;
    while at < bytes.len() {
        // The zeros the segment was grown by: the frames end here.
        if bytes[at..].iter().take(4).all(|&b| b == 0) {
            break;
        }
        let index = first_index + offsets.len() as u64;
        match check_frame(&bytes[at..], index) {
            Ok(frame_len) => {
                offsets.push(at as u64);
                at += frame_len;
            }
            Err(message) => {
                problem = Some(message);
                break;
            }
        }
    }
    // Zeros end the frames; anything written past them is an append whose earlier pages never
    // reached the disk (a power loss before a leader's flush). It must go: a later append would
    // write up to it and the next scan would read it as frames.
    if problem.is_none() && bytes[at..].iter().any(|&b| b != 0) {
        problem = Some("data after the zeros that end the frames".to_owned());
    }
    if let Some(message) = problem {
        if !is_last {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "log segment {} is corrupt at byte {at}: {message}",
                    path.display()
                ),
            ));
        }
        tracing::warn!(
            segment = %path.display(),
            at,
            dropped_bytes = bytes.len() - at,
            %message,
            "cutting an unfinished append off the end of the log"
        );
        file.set_len(at as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| annotate(e, "cannot truncate", &path))?;
        bytes.truncate(at);
    }
    Ok(Segment {
        first_index,
        path,
        file: Arc::new(file),
        offsets,
        len: at as u64,
        allocated: bytes.len() as u64,
    })
}

/// The length of the frame at the start of `bytes`, if it is whole, holds entry `index` and its
/// record checks.
fn check_frame(bytes: &[u8], index: u64) -> Result<usize, String> {
    let Some(header) = bytes.get(..FRAME_HEADER) else {
        return Err(format!("frame header cut short ({} bytes)", bytes.len()));
    };
    let mut length = [0; 4];
    length.copy_from_slice(&header[..4]);
    let length = u32::from_le_bytes(length) as usize;
    let mut stored_index = [0; 8];
    stored_index.copy_from_slice(&header[4..]);
    let stored_index = u64::from_le_bytes(stored_index);
    let Some(record) = bytes.get(FRAME_HEADER..FRAME_HEADER + length) else {
        return Err(format!(
            "record of entry {index} cut short ({} of {length} bytes)",
            bytes.len() - FRAME_HEADER
        ));
    };
    if stored_index != index {
        return Err(format!("frame of entry {index} is marked {stored_index}"));
    }
    codec::check(record).map_err(|e| format!("entry {index}: {e}"))?;
    Ok(FRAME_HEADER + length)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| annotate(e, "cannot sync directory", dir))
}

fn annotate(error: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64) -> Vec<u8> {
        codec::encode(&format!("entry {index}")).unwrap()
    }

    fn append(log: &mut LogFile, indexes: std::ops::RangeInclusive<u64>) {
        let records: Vec<(u64, Vec<u8>)> = indexes.map(|i| (i, record(i))).collect();
        let frames: Vec<Frame<'_>> = records
            .iter()
            .map(|(index, record)| Frame {
                index: *index,
                record,
            })
            .collect();
        log.append(&frames).unwrap();
    }

    fn contents(log: &LogFile, indexes: std::ops::RangeInclusive<u64>) -> Vec<Option<String>> {
        indexes
            .map(|i| {
                log.read(i)
                    .unwrap()
                    .map(|r| codec::decode::<String>(&r).unwrap())
            })
            .collect()
    }

    /// Overwrites part of a segment file, as a crash or a power loss would leave it.
    fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
        let file = OpenOptions::new().write(true).open(path).unwrap();
        file.write_all_at(bytes, offset).unwrap();
    }

    fn segment_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn entries_survive_reopening_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open_with_segment_bytes(dir.path(), None, 100).unwrap();
        append(&mut log, 1..=3);
        append(&mut log, 4..=4);
        append(&mut log, 5..=9);
        assert!(segment_files(dir.path()).len() >= 2, "segments rotate");
        drop(log);
        let log = LogFile::open_with_segment_bytes(dir.path(), None, 100).unwrap();
        assert_eq!(log.last_index(), Some(9));
        let expected: Vec<_> = (1..=9).map(|i| Some(format!("entry {i}"))).collect();
        assert_eq!(contents(&log, 1..=9), expected);
        assert_eq!(log.read(10).unwrap(), None);
    }

    #[test]
    fn an_append_over_existing_entries_is_refused_and_one_past_a_gap_starts_a_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(dir.path(), None).unwrap();
        append(&mut log, 1..=2);
        let again = record(2);
        let err = log
            .append(&[Frame {
                index: 2,
                record: &again,
            }])
            .unwrap_err();
        assert!(err.to_string().contains("would overwrite the log"), "{err}");
        assert_eq!(log.last_index(), Some(2));

        append(&mut log, 5..=5);
        assert_eq!(segment_files(dir.path()).len(), 2);
        drop(log);
        let log = LogFile::open(dir.path(), None).unwrap();
        assert_eq!(
            contents(&log, 1..=5),
            vec![
                Some("entry 1".to_owned()),
                Some("entry 2".to_owned()),
                None,
                None,
                Some("entry 5".to_owned())
            ]
        );
    }

    #[test]
    fn an_unfinished_append_at_the_end_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(dir.path(), None).unwrap();
        append(&mut log, 1..=3);
        let whole = log.segments[0].len;
        drop(log);
        let path = dir.path().join(format!("{:020}.log", 1));
        // A crash in the middle of writing entry 4's frame.
        let partial = {
            let r = record(4);
            let mut frame = (r.len() as u32).to_le_bytes().to_vec();
            frame.extend_from_slice(&4u64.to_le_bytes());
            frame.extend_from_slice(&r[..r.len() / 2]);
            frame
        };
        write_at(&path, whole, &partial);

        let mut log = LogFile::open(dir.path(), None).unwrap();
        assert_eq!(log.last_index(), Some(3));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        append(&mut log, 4..=4);
        assert_eq!(contents(&log, 4..=4), vec![Some("entry 4".to_owned())]);
    }

    #[test]
    fn frames_past_a_hole_of_zeros_at_the_end_are_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(dir.path(), None).unwrap();
        append(&mut log, 1..=2);
        let whole = log.segments[0].len;
        append(&mut log, 3..=5);
        let frame_3 = log.segments[0].offsets[2];
        let frame_4 = log.segments[0].offsets[3];
        drop(log);
        let path = dir.path().join(format!("{:020}.log", 1));
        // Entries 3-5 were written but not flushed; after a power loss the page holding entry 3
        // reads back as zeros while entries 4 and 5 did reach the disk.
        write_at(&path, frame_3, &vec![0u8; (frame_4 - frame_3) as usize]);

        let mut log = LogFile::open(dir.path(), None).unwrap();
        assert_eq!(log.last_index(), Some(2));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        append(&mut log, 3..=3);
        drop(log);
        // Nothing of the old entries 4 and 5 is read back after the new entry 3.
        let log = LogFile::open(dir.path(), None).unwrap();
        assert_eq!(log.last_index(), Some(3));
        assert_eq!(contents(&log, 3..=3), vec![Some("entry 3".to_owned())]);
    }

    #[test]
    fn a_corrupt_frame_before_the_last_segment_fails_open_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open_with_segment_bytes(dir.path(), None, 10).unwrap();
        append(&mut log, 1..=1);
        append(&mut log, 2..=2);
        drop(log);
        let first = dir.path().join(format!("{:020}.log", 1));
        let mut bytes = std::fs::read(&first).unwrap();
        // A bit inside the body of the first (only) record.
        bytes[FRAME_HEADER + 6] ^= 0x01;
        std::fs::write(&first, bytes).unwrap();
        let err = LogFile::open_with_segment_bytes(dir.path(), None, 10)
            .err()
            .unwrap();
        let message = err.to_string();
        assert!(message.contains("is corrupt at byte 0"), "{message}");
        assert!(message.contains("00000000000000000001.log"), "{message}");
        assert!(message.contains("checksum"), "{message}");
    }

    /// Entries 1 to 8, appended one by one to segments of 60 bytes (a few entries each).
    fn eight_entries_in_small_segments(dir: &Path) -> LogFile {
        let mut log = LogFile::open_with_segment_bytes(dir, None, 60).unwrap();
        for i in 1..=8 {
            append(&mut log, i..=i);
        }
        log
    }

    #[test]
    fn truncation_deletes_the_tail_durably() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = eight_entries_in_small_segments(dir.path());
        let segments_before = segment_files(dir.path()).len();
        log.truncate_from(4).unwrap();
        assert_eq!(log.last_index(), Some(3));
        assert!(segment_files(dir.path()).len() < segments_before);
        append(&mut log, 4..=5);
        drop(log);
        let mut log = LogFile::open_with_segment_bytes(dir.path(), None, 60).unwrap();
        assert_eq!(log.last_index(), Some(5));
        assert_eq!(contents(&log, 4..=5)[1], Some("entry 5".to_owned()));
        // Truncating everything leaves an empty log that takes any next index.
        log.truncate_from(1).unwrap();
        assert_eq!(log.last_index(), None);
        append(&mut log, 1..=1);
        assert_eq!(contents(&log, 1..=1), vec![Some("entry 1".to_owned())]);
        // Truncating past the end changes nothing.
        log.truncate_from(7).unwrap();
        assert_eq!(log.last_index(), Some(1));
    }

    #[test]
    fn purging_forgets_entries_and_deletes_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = eight_entries_in_small_segments(dir.path());
        let segments_before = segment_files(dir.path()).len();
        log.purge_upto(5).unwrap();
        assert!(segment_files(dir.path()).len() < segments_before);
        assert_eq!(
            contents(&log, 5..=6),
            vec![None, Some("entry 6".to_owned())]
        );
        drop(log);
        // Reopened with the purge point the store recorded.
        let mut log = LogFile::open_with_segment_bytes(dir.path(), Some(5), 60).unwrap();
        assert_eq!(log.read(5).unwrap(), None);
        assert_eq!(log.last_index(), Some(8));
        // A snapshot beyond the end purges everything; appends continue after it.
        log.purge_upto(20).unwrap();
        append(&mut log, 21..=22);
        drop(log);
        let log = LogFile::open_with_segment_bytes(dir.path(), Some(20), 60).unwrap();
        assert_eq!(log.last_index(), Some(22));
        assert_eq!(
            contents(&log, 20..=22),
            vec![
                None,
                Some("entry 21".to_owned()),
                Some("entry 22".to_owned())
            ]
        );
    }
}
