//! Where a run writes `results.json` and `REPORT.md`: checked before the first trial, held
//! for the whole run, and written as a pair.
//!
//! A run can take many minutes; finding only at the end that its output directory is
//! read-only or full loses every result. So [`OutputDir::prepare`] creates the directory,
//! proves it writable, checks its free space and takes a lock on it before any trial runs:
//! a second run given the same `--out` is refused with the pid that holds it, instead of the
//! two overwriting each other's files. [`OutputDir::write_pair`] writes both files to
//! temporary names, and renames them into place only once both are complete, so that a
//! failure leaves the previous pair (and no temporary file) behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Less free space than this and the run does not start: a report of the default corpus is
/// well under a megabyte, this leaves room for far larger ones.
pub const MIN_FREE_BYTES: u64 = 16 * 1024 * 1024;

/// The lock file's name, inside the output directory.
pub const LOCK_FILE: &str = ".dindcheck.lock";

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot create the output directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the output directory {path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the output directory {path} has {free} bytes free, less than the {MIN_FREE_BYTES} a report needs"
    )]
    NoSpace { path: PathBuf, free: u64 },
    #[error(
        "another dindcheck run ({holder}) is writing to {path}: wait for it to finish, or pass another --out"
    )]
    Busy { path: PathBuf, holder: String },
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An output directory this process holds for the length of a run.
#[derive(Debug)]
pub struct OutputDir {
    path: PathBuf,
    /// Holds the `flock`; released when dropped (or when the process dies).
    _lock: File,
}

impl OutputDir {
    /// Creates `path` if needed, takes its lock, and checks that it can be written and has
    /// room, all before the first trial.
    pub fn prepare(path: &Path) -> Result<OutputDir, OutputError> {
        std::fs::create_dir_all(path).map_err(|source| OutputError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let not_writable = |source| OutputError::NotWritable {
            path: path.to_path_buf(),
            source,
        };
        let lock_path = path.join(LOCK_FILE);
        let mut lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(not_writable)?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
                let holder = holder.trim();
                return Err(OutputError::Busy {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        "pid unknown".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(e) => return Err(not_writable(e.into())),
        }
        lock.set_len(0).map_err(not_writable)?;
        write!(lock, "pid {}", std::process::id()).map_err(not_writable)?;
        // Writing the lock file proved the directory writable; now the room.
        let st = rustix::fs::statvfs(path).map_err(|e| not_writable(e.into()))?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        if free < MIN_FREE_BYTES {
            return Err(OutputError::NoSpace {
                path: path.to_path_buf(),
                free,
            });
        }
        Ok(OutputDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `results.json` and `REPORT.md`: both to temporary files first (flushed to
    /// disk), then renamed into place. On failure the temporary files are removed and the
    /// previous pair stays as it was.
    pub fn write_pair(&self, json: &str, markdown: &str) -> Result<(), OutputError> {
        let files = [("results.json", json), ("REPORT.md", markdown)];
        let tmp = |name: &str| {
            self.path
                .join(format!(".{name}.tmp.{}", std::process::id()))
        };
        let mut written = Vec::new();
        for (name, contents) in files {
            let t = tmp(name);
            let result = File::create(&t)
                .and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|()| f.sync_all()));
            written.push(t.clone());
            if let Err(source) = result {
                for w in &written {
                    let _ = std::fs::remove_file(w);
                }
                return Err(OutputError::Write { path: t, source });
            }
        }
        for (name, _) in files {
            let target = self.path.join(name);
            std::fs::rename(tmp(name), &target).map_err(|source| {
                for (n, _) in files {
                    let _ = std::fs::remove_file(tmp(n));
                }
                OutputError::Write {
                    path: target.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputDir::prepare(dir.path()).unwrap();
        // flock locks belong to open file descriptions: a second open in this process
        // conflicts as another process would.
        let err = OutputDir::prepare(dir.path()).unwrap_err();
        assert!(
            matches!(&err, OutputError::Busy { holder, .. } if holder.contains(&std::process::id().to_string())),
            "{err}"
        );
        drop(first);
        OutputDir::prepare(dir.path()).unwrap();
    }

    #[test]
    fn the_pair_is_written_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::prepare(dir.path()).unwrap();
        out.write_pair("{}", "# report").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [LOCK_FILE, "REPORT.md", "results.json"]);
    }

    #[test]
    fn a_read_only_directory_is_found_before_any_trial() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        // A read-only bind would need a mount; a directory that is a file shows the same
        // path-carrying error without one (root ignores mode bits).
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = OutputDir::prepare(&file.join("out")).unwrap_err();
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
}
