//! Where a run writes its report, in every format ([`crate::report::FORMATS`]: `results.json`,
//! `REPORT.md` with its pages and case pages, `heatmap.svg`): checked before the first
//! trial, held for the whole run, and written as one set.
//!
//! A run can take many minutes; finding only at the end that its output directory is
//! read-only or full loses every result. So [`OutputDir::prepare`] creates the directory,
//! proves it writable, checks its free space and takes a lock on it before any trial runs:
//! a second run given the same `--out` is refused with the pid that holds it, instead of the
//! two overwriting each other's files. [`OutputDir::write_files`] writes every file to a
//! temporary name, and renames them into place only once all are complete, so that a failure
//! leaves the previous set (and no temporary file) behind; then it removes the case pages of
//! cases the new report no longer has, still under the lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::report::format::File;

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
    _lock: std::fs::File,
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

    /// Writes a run's results in every format ([`crate::report::FORMATS`]) as one set, then
    /// removes what a format owns and did not write this time: the case pages of cases the
    /// report no longer has, and the pages of sections with nothing to show (an older page
    /// would describe other data).
    pub fn write_results(&self, results: &crate::report::Results) -> Result<(), OutputError> {
        let formats = crate::report::FORMATS;
        let files: Vec<File> = formats.iter().flat_map(|f| f.files(results)).collect();
        let owned: Vec<_> = formats.iter().map(|f| f.owned()).collect();
        let folders: Vec<&str> = owned
            .iter()
            .flat_map(|o| o.folders.iter().copied())
            .collect();
        self.write_files(&files, &folders)?;
        for name in owned.iter().flat_map(|o| o.files.iter()) {
            if files.iter().any(|(n, _)| n == Path::new(name)) {
                continue;
            }
            let p = self.path.join(name);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(OutputError::Write { path: p, source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `files` (paths relative to the directory): every one to a temporary file
    /// first (flushed to disk), then all renamed into place. On failure the temporary files
    /// are removed and the previous files stay as they were. Then the `.md` files directly
    /// in each of the `prune` folders that are not among `files` are removed: pages of cases
    /// that are gone.
    pub fn write_files(&self, files: &[File], prune: &[&str]) -> Result<(), OutputError> {
        // Each temporary file is removed when dropped: on any failure, every one written so
        // far goes, and the previous files stay. Its mode is what `File::create` gives (0666
        // less the umask), not tempfile's private 0600: the report is for everyone to read.
        let mut written = Vec::with_capacity(files.len());
        for (name, contents) in files {
            let target = self.path.join(name);
            let dir = target.parent().unwrap_or(&self.path);
            let file = target.file_name().unwrap_or_default().to_string_lossy();
            let temporary = std::fs::create_dir_all(dir)
                .and_then(|()| {
                    tempfile::Builder::new()
                        .prefix(&format!(".{file}."))
                        .suffix(".tmp")
                        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                        .tempfile_in(dir)
                })
                .and_then(|mut t| {
                    t.write_all(contents)?;
                    t.as_file().sync_all()?;
                    Ok(t)
                })
                .map_err(|source| OutputError::Write {
                    path: target.clone(),
                    source,
                })?;
            written.push((temporary, target));
        }
        for (temporary, target) in written {
            temporary.persist(&target).map_err(|e| OutputError::Write {
                path: target.clone(),
                source: e.error,
            })?;
        }
        let keep: Vec<PathBuf> = files.iter().map(|(n, _)| self.path.join(n)).collect();
        for dir in prune {
            let Ok(entries) = std::fs::read_dir(self.path.join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "md") && !keep.contains(&p) {
                    std::fs::remove_file(&p).map_err(|source| OutputError::Write {
                        path: p.clone(),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `results.json` and `REPORT.md` with these contents.
    fn pair(json: &str, markdown: &str) -> [File; 2] {
        [
            ("results.json".into(), json.into()),
            ("REPORT.md".into(), markdown.into()),
        ]
    }

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
    fn files_are_written_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::prepare(dir.path()).unwrap();
        out.write_files(&pair("{}", "# report"), &[]).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [LOCK_FILE, "REPORT.md", "results.json"]);
        // The mode `File::create` gives (the umask applies to both).
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions())
        };
        let created = dir.path().join("created");
        std::fs::File::create(&created).unwrap();
        assert_eq!(mode(&dir.path().join("REPORT.md")), mode(&created));
    }

    #[test]
    fn a_failed_write_leaves_the_previous_files_and_no_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::prepare(dir.path()).unwrap();
        out.write_files(&pair("{}", "# old"), &[]).unwrap();
        // A directory where `cases/` must be: the page cannot be written.
        std::fs::write(dir.path().join("cases"), "not a directory").unwrap();
        let files = [
            (PathBuf::from("REPORT.md"), b"# new".to_vec()),
            (Path::new("cases").join("a.md"), b"# page".to_vec()),
        ];
        out.write_files(&files, &[]).unwrap_err();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap(),
            "# old"
        );
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [LOCK_FILE, "REPORT.md", "cases", "results.json"]);
    }

    #[test]
    fn pages_of_cases_that_are_gone_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::prepare(dir.path()).unwrap();
        let page = |name: &str| (Path::new("cases").join(name), b"# page".to_vec());
        out.write_files(&[page("a.md"), page("b.md")], &["cases"])
            .unwrap();
        std::fs::write(dir.path().join("cases/notes.txt"), "mine").unwrap();
        out.write_files(&[page("b.md")], &["cases"]).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("cases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["b.md", "notes.txt"]);
    }

    /// A page a new report does not write (its section has nothing to show) is removed: it
    /// would describe the previous run's data.
    #[test]
    fn the_long_sections_pages_are_written_and_the_ones_a_report_lacks_removed() {
        let text = include_str!("../reports/results.json");
        let mut results: crate::report::Results = serde_json::from_str(text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::prepare(dir.path()).unwrap();
        out.write_results(&results).unwrap();
        for page in crate::report::PAGES {
            assert!(dir.path().join(page).exists(), "{page}");
        }
        results.answers = Default::default();
        out.write_results(&results).unwrap();
        assert!(!dir.path().join("minimal-recipes.md").exists());
        assert!(!dir.path().join("why-each-flag.md").exists());
        assert!(dir.path().join("catalogue.md").exists());
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
