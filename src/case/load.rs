//! Reading a directory of case files into a [`Corpus`].
//!
//! Each file is checked on its own first, so that an error points into the file that has it
//! (with line, column and key), then `extend` chains are resolved by merging TOML tables:
//! tables merge key by key, anything else (strings, numbers, arrays) is replaced whole.
//! A bad file never stops the others: the corpus carries the good cases and the errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::Deserialize;

pub use super::diff::changes;
use super::permission::Permission;
pub use super::rules::ALLOWED_BIND_SOURCES;
use super::rules::{check_dockerd_args, check_mount, is_image_reference, valid_name};
use super::schema::{Case, MAX_TIMEOUT_SECS};
use super::spans::{self, Step};

/// Case files larger than this are refused unread: a case is a page of TOML, not a data set.
pub const MAX_CASE_FILE_BYTES: u64 = 256 * 1024;

/// Keys that belong to one file and are not taken over by a case that extends it.
const NOT_INHERITED: &[&str] = &["name", "extend", "abstract"];

/// The cases of a directory: those that loaded, and one error for each file that did not.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Every valid case, abstract ones included, sorted by name.
    pub cases: Vec<Case>,
    pub errors: Vec<CaseError>,
}

impl Corpus {
    /// The cases that are run (not abstract).
    pub fn runnable(&self) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(|c| !c.is_abstract)
    }

    pub fn get(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.name == name)
    }
}

/// One problem with one case file, located as precisely as the problem allows.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{}", self.headline())]
pub struct CaseError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key at fault, when there is one.
    pub key: Option<String>,
    pub message: String,
    #[help]
    pub hint: Option<String>,
    #[source_code]
    src: Option<NamedSource<String>>,
    #[label("here")]
    span: Option<SourceSpan>,
}

impl CaseError {
    fn new(file: &Path, message: impl Into<String>) -> Self {
        CaseError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
            hint: None,
            src: None,
            span: None,
        }
    }

    fn at(mut self, text: &str, offset: usize, len: usize) -> Self {
        let offset = offset.min(text.len());
        let (line, column) = line_col(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        if self.key.is_none() {
            // A syntax error leaves no parsed keys to take spans from: only its line tells.
            self.key = match toml::de::DeTable::parse(text) {
                Ok(_) => spans::key_at(text, offset),
                Err(_) => key_on_line(text, offset),
            };
        }
        self.src = Some(NamedSource::new(
            self.file.display().to_string(),
            text.to_string(),
        ));
        self.span = Some((offset, len.max(1)).into());
        self
    }

    /// Locates the error at `key` (a dotted path such as `runsc.flags`), if the file has it.
    fn at_key(self, text: &str, key: &str) -> Self {
        self.at_path(text, key, &[])
    }

    /// Locates the error of `key` at the element `path` names (a flag in a multi-line array,
    /// a mount in an inline table), or at `key` itself when the file does not have that
    /// element (it came through `extend`).
    fn at_path(mut self, text: &str, key: &str, path: &[Step]) -> Self {
        self.key = Some(key.to_string());
        let place = Some(path)
            .filter(|p| !p.is_empty())
            .and_then(|p| spans::find(text, p))
            .or_else(|| spans::find(text, &spans::keys(key)));
        match place {
            Some(span) => self.at(text, span.start, span.len()),
            None => self,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column: key `k`: message`, the one line a terminal or CI log shows.
    pub fn headline(&self) -> String {
        let mut s = self.file.display().to_string();
        if let (Some(l), Some(c)) = (self.line, self.column) {
            s.push_str(&format!(":{l}:{c}"));
        }
        s.push_str(": ");
        if let Some(k) = &self.key {
            s.push_str(&format!("key `{k}`: "));
        }
        s.push_str(&self.message);
        s
    }
}

/// One file as read: its text, its table for merging, and the case it declares on its own.
struct Parsed {
    file: PathBuf,
    text: String,
    table: toml::Table,
    case: Case,
}

/// Loads every `*.toml` file of `dir` (not recursively). An unreadable directory, or one
/// without any case file, is an error of its own: a typo in a path must never pass as
/// "zero cases, all fine".
pub fn load_dir(dir: &Path) -> Result<Corpus, Box<CaseError>> {
    load_dir_allowing(dir, &[])
}

/// [`load_dir`], with the permissions the person running dindcheck gave (`--allow`): a case
/// that needs one not given is refused (`permission`).
pub fn load_dir_allowing(dir: &Path, allow: &[Permission]) -> Result<Corpus, Box<CaseError>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Box::new(CaseError::new(
            dir,
            format!("cannot read the case directory: {e}"),
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Box::new(CaseError::new(
            dir,
            "no case files found (expected `*.toml` files in this directory)",
        )));
    }
    Ok(load_files_allowing(&files, allow))
}

/// Loads the given case files as one corpus (`extend` resolves among them), with no
/// permission given.
pub fn load_files(files: &[PathBuf]) -> Corpus {
    load_files_allowing(files, &[])
}

/// [`load_files`], with the permissions given on the command line (`--allow`).
pub fn load_files_allowing(files: &[PathBuf], allow: &[Permission]) -> Corpus {
    let mut corpus = Corpus::default();
    let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
    for file in files {
        match parse_file(file) {
            Ok(p) => {
                if let Some(other) = parsed.get(&p.case.name) {
                    let err = CaseError::new(
                        &p.file,
                        format!(
                            "case name `{}` is already used by {}",
                            p.case.name,
                            other.file.display()
                        ),
                    )
                    .at_key(&p.text, "name");
                    corpus.errors.push(err);
                } else {
                    parsed.insert(p.case.name.clone(), p);
                }
            }
            Err(e) => corpus.errors.push(*e),
        }
    }
    let mut resolved = BTreeMap::new();
    for name in parsed.keys() {
        match resolve(name, &parsed, &mut resolved).and_then(|t| finish(&parsed[name], t, allow)) {
            Ok(case) => corpus.cases.push(case),
            Err(e) => corpus.errors.push(*e),
        }
    }
    corpus
}

fn parse_file(file: &Path) -> Result<Parsed, Box<CaseError>> {
    let meta = std::fs::metadata(file)
        .map_err(|e| CaseError::new(file, format!("cannot read the file: {e}")))?;
    if meta.len() > MAX_CASE_FILE_BYTES {
        return Err(Box::new(
            CaseError::new(
                file,
                format!("file is {} bytes, more than a case file may be", meta.len()),
            )
            .hint(format!(
                "case files are limited to {MAX_CASE_FILE_BYTES} bytes"
            )),
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| CaseError::new(file, format!("cannot read the file: {e}")))?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let toml_err = |e: toml::de::Error| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let hint = hint_for(&message);
        let mut err = CaseError::new(file, message).at(&text, span.start, span.len());
        err.hint = hint;
        Box::new(err)
    };
    let table: toml::Table = toml::from_str(&text).map_err(toml_err)?;
    let mut case: Case = toml::from_str(&text).map_err(toml_err)?;
    if case.name.is_empty() {
        case.name = stem;
    }
    if !valid_name(&case.name) {
        return Err(Box::new(
            CaseError::new(file, format!("`{}` is not a valid case name", case.name))
                .at_key(&text, "name")
                .hint("use lowercase letters, digits, `-` and `_` (it becomes part of test names and paths)"),
        ));
    }
    Ok(Parsed {
        file: file.to_path_buf(),
        text,
        table,
        case,
    })
}

/// The merged table of `name` after its `extend` chain, parent first. The chain is walked
/// with a loop, not recursion, and every merged table is remembered in `resolved`, so that a
/// chain of any length costs time linear in its length and no stack (a chain of thousands
/// of `extend`s once overflowed the stack).
fn resolve(
    name: &str,
    parsed: &BTreeMap<String, Parsed>,
    resolved: &mut BTreeMap<String, toml::Table>,
) -> Result<toml::Table, Box<CaseError>> {
    let mut chain: Vec<String> = Vec::new();
    let mut current = name;
    let mut base = toml::Table::new();
    loop {
        if let Some(done) = resolved.get(current) {
            base = done.clone();
            break;
        }
        let p = &parsed[current];
        if chain.iter().any(|n| n == current) {
            chain.push(current.to_string());
            let first = &parsed[name];
            return Err(Box::new(
                CaseError::new(
                    &first.file,
                    format!("`extend` forms a cycle: {}", chain.join(" → ")),
                )
                .at_key(&first.text, "extend"),
            ));
        }
        chain.push(current.to_string());
        let Some(parent) = &p.case.extend else {
            break;
        };
        if !parsed.contains_key(parent) {
            let names: Vec<&str> = parsed.keys().map(String::as_str).collect();
            let mut err = CaseError::new(
                &p.file,
                format!("extends `{parent}`, which is not a case here"),
            )
            .at_key(&p.text, "extend");
            if let Some(c) = super::capability::closest(parent, &names) {
                err = err.hint(format!("did you mean `{c}`?"));
            }
            return Err(Box::new(err));
        }
        current = parent;
    }
    // `chain` runs from `name` up to the first ancestor not yet resolved: merge from there
    // down, remembering each step.
    for n in chain.iter().rev() {
        let mut own = parsed[n].table.clone();
        for k in NOT_INHERITED {
            own.remove(*k);
        }
        merge(&mut base, own);
        resolved.insert(n.clone(), base.clone());
    }
    Ok(base)
}

/// Merges `top` into `base`: tables key by key, everything else replaced.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Turns a merged table into a checked case.
fn finish(p: &Parsed, table: toml::Table, allow: &[Permission]) -> Result<Case, Box<CaseError>> {
    let mut case = Case::deserialize(toml::Value::Table(table))
        .map_err(|e| Box::new(CaseError::new(&p.file, format!("after `extend`: {e}"))))?;
    case.name = p.case.name.clone();
    case.extend = p.case.extend.clone();
    case.is_abstract = p.case.is_abstract;
    check(&case, p)?;
    for (permission, key, what) in super::permission::needed(&case) {
        if !allow.contains(&permission) {
            return Err(Box::new(
                CaseError::new(&p.file, format!("{what}: refused without permission"))
                    .at_key(&p.text, key)
                    .hint(format!(
                        "a case file may not reach the host by itself; if you trust this one, run dindcheck with `--allow {}` (docs/security.md)",
                        permission.as_str()
                    )),
            ));
        }
    }
    Ok(case)
}

fn check(case: &Case, p: &Parsed) -> Result<(), Box<CaseError>> {
    let err = |key: &str, msg: String| CaseError::new(&p.file, msg).at_key(&p.text, key);
    if !case.is_abstract {
        for (key, value) in [
            ("rootfs", &case.rootfs),
            ("source", &case.source),
            ("claim", &case.claim),
        ] {
            // A case that names an image needs no root filesystem.
            if key == "rootfs" && case.image.is_some() {
                continue;
            }
            if value.trim().is_empty() {
                return Err(Box::new(
                    CaseError::new(
                        &p.file,
                        "this key is missing (here or in the case it extends)",
                    )
                    .at_key(&p.text, key)
                    .hint(format!("add `{key} = \"…\"`; see cases/README.md")),
                ));
            }
        }
    }
    if let Some(image) = &case.image
        && !is_image_reference(image)
    {
        return Err(Box::new(
            err("image", format!("`{image}` is not an image reference"))
                .hint("name an image as `docker run` takes it, e.g. `docker:dind` or `registry.example/team/dind:27`"),
        ));
    }
    if let Some(t) = case.timeout
        && !(1..=MAX_TIMEOUT_SECS).contains(&t)
    {
        return Err(Box::new(
            err(
                "timeout",
                format!("{t} s is not a usable readiness timeout"),
            )
            .hint(format!(
                "give a number of seconds from 1 to {MAX_TIMEOUT_SECS}"
            )),
        ));
    }
    if let Some(c) = case.capabilities.conflicts().first() {
        return Err(Box::new(
            err(
                "capabilities",
                format!("`{}` is both added and dropped", c.as_str()),
            )
            .hint("keep it in one of `add` or `drop`"),
        ));
    }
    let at = |key: &str, path: &[Step], msg: String| {
        CaseError::new(&p.file, msg).at_path(&p.text, key, path)
    };
    for (i, m) in case.mounts.iter().enumerate() {
        let path = [Step::Key("mounts"), Step::Index(i)];
        check_mount(m).map_err(|msg| at("mounts", &path, msg.0).hint(msg.1))?;
    }
    for (i, f) in case.runsc.flags.iter().enumerate() {
        let path = [Step::Key("runsc"), Step::Key("flags"), Step::Index(i)];
        super::runsc_flags::check(f)
            .map_err(|r| at("runsc.flags", &path, r.message).hint(r.hint))?;
    }
    check_dockerd_args(&case.dockerd.args).map_err(|msg| err("dockerd.args", msg.0).hint(msg.1))?;
    if let Some(dj) = &case.dockerd.daemon_json
        && dj.contains_key("hosts")
    {
        // dockerd refuses to start when `hosts` is in daemon.json and `--host` is on its
        // command line, and the harness always passes one `--host` of its own.
        return Err(Box::new(
            err(
                "dockerd.daemon_json",
                "`hosts` cannot be set in daemon_json".into(),
            )
            .hint(
                "the harness gives dockerd a --host of its own; put extra sockets in dockerd.args",
            ),
        ));
    }
    for k in case.env.keys() {
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Box::new(
                at(
                    "env",
                    &[Step::Key("env"), Step::Key(k)],
                    format!("`{k}` is not a valid environment variable name"),
                )
                .hint("use letters, digits and `_`, not starting with a digit"),
            ));
        }
    }
    Ok(())
}

fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        // "unknown field `timout`, expected one of `name`, `timeout`, …"
        let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((unknown, expected)) = quoted.split_first()
            && let Some(c) = super::capability::closest(unknown, expected)
        {
            return Some(format!("did you mean `{c}`? (see cases/README.md)"));
        }
        Some("see cases/README.md for the keys a case may have".into())
    } else if message.starts_with("unknown variant") {
        Some("the value must be one of those listed".into())
    } else {
        None
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key assigned on the line that holds `offset` (`key = …`), or the table header there.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim();
    if let Some(h) = line.strip_prefix('[') {
        return Some(h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    }
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"');
    if k.is_empty() || k.contains(' ') {
        return None;
    }
    // Inside a `[table]` or `[[array]]` section the key's full name includes the section's.
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{k}"),
        None => k.to_string(),
    })
}

/// Names of the cases in `corpus` that were given but do not exist, for a clear error.
pub fn unknown_names<'a>(corpus: &Corpus, names: &'a [String]) -> Vec<&'a str> {
    let known: BTreeSet<&str> = corpus.cases.iter().map(|c| c.name.as_str()).collect();
    names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect()
}
