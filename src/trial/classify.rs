//! The error catalogue: which known failure an error line is, which layer is at fault, why it
//! happens and what to change.
//!
//! The catalogue is data (`catalogue/errors.toml`, compiled into the binary so that the CLI
//! and the conformance gate always agree on it). Each [`ErrorSignature`] carries one or more
//! regular expressions; every error line a trial records (dockerd's errors, the decisive line,
//! runsc's debug-log errors, a probe's error) is matched against them in file order, and the
//! first match names the line. A failure's *diagnosis* comes from its decisive line alone
//! ([`Catalogue::diagnose`]); the other names are "also seen".
//!
//! Some signatures describe a *symptom* rather than a cause ("waiting for sandbox to start:
//! EOF" only says that the sandbox died; dockerd's probing of storage drivers logs errors on
//! every start). They name a line but never explain a failure on their own: a failure whose
//! lines match no *cause* is [`UNKNOWN`], a gap in the catalogue that the report lists.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The id of a failure that no cause in the catalogue explains.
pub const UNKNOWN: &str = "unknown";

/// The catalogue that ships with dindcheck (its text is part of what an outcome depends on).
pub const BUILTIN: &str = include_str!("../../catalogue/errors.toml");
const BUILTIN_PATH: &str = "catalogue/errors.toml";

/// A catalogue file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("invalid error catalogue {file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error(
        "error catalogue {file}: signature `{id}` has an invalid pattern `{pattern}`: {message}"
    )]
    BadPattern {
        file: PathBuf,
        id: String,
        pattern: String,
        message: String,
    },
    #[error("error catalogue {file}: signature `{id}` is defined twice")]
    DuplicateId { file: PathBuf, id: String },
    #[error("error catalogue {file}: signature `{id}`: {problem}")]
    Incomplete {
        file: PathBuf,
        id: String,
        problem: String,
    },
}

/// The layer whose behaviour produces a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// runsc and the gVisor kernel it runs (the sandbox).
    Runsc,
    Dockerd,
    Containerd,
    /// The runc that the nested dockerd's containerd runs inside the sandbox.
    NestedRunc,
    /// The host machine: its kernel, its packages.
    Host,
    /// The recipe: the case's setup script, sandbox spec or dockerd flags.
    Setup,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Runsc => "runsc (gVisor)",
            Layer::Dockerd => "dockerd",
            Layer::Containerd => "containerd",
            Layer::NestedRunc => "nested runc",
            Layer::Host => "host",
            Layer::Setup => "the recipe's setup",
        }
    }
}

/// Whether a signature can explain a failure by itself.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The line says why something failed.
    #[default]
    Cause,
    /// The line only says that something failed, or is noise that accompanies a success.
    Symptom,
}

/// Real log lines that a signature must match, and must not match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(rename = "match", default)]
    pub matches: Vec<String>,
    #[serde(default)]
    pub no_match: Vec<String>,
}

/// One entry of the catalogue file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    layer: Layer,
    #[serde(default)]
    kind: Kind,
    patterns: Vec<String>,
    explanation: String,
    remedy: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    examples: Examples,
    #[serde(default)]
    untested: bool,
    #[serde(default)]
    transient: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    signature: Vec<Entry>,
}

/// A known failure: how to recognise its lines, and what to tell the user.
#[derive(Clone, Debug)]
pub struct ErrorSignature {
    pub id: String,
    pub layer: Layer,
    pub kind: Kind,
    pub patterns: Vec<Regex>,
    pub explanation: String,
    pub remedy: String,
    pub references: Vec<String>,
    pub examples: Examples,
    /// A failure that happens before the recipe is tried at all (its image could not be
    /// had): an outcome it explains says nothing about the case's claim.
    pub untested: bool,
    /// Seen to come and go from run to run (a retried failure that the retry did not see):
    /// it still explains a failure whose decisive line it matches, but as an "also seen"
    /// line it is no part of an outcome's baseline.
    pub transient: bool,
}

impl ErrorSignature {
    pub fn matches(&self, line: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(line))
    }
}

/// Every known signature, in the file's order (the first match wins).
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub signatures: Vec<ErrorSignature>,
}

impl Catalogue {
    /// The catalogue compiled into dindcheck. It is checked by the unit tests, so a broken
    /// file can never ship.
    pub fn builtin() -> &'static Catalogue {
        static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
            Catalogue::parse(BUILTIN, Path::new(BUILTIN_PATH))
                .unwrap_or_else(|e| panic!("the built-in catalogue is invalid: {e}"))
        });
        &CATALOGUE
    }

    /// Parses and checks catalogue text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Catalogue, CatalogueError> {
        let parsed: File = toml::from_str(text).map_err(|e| CatalogueError::Syntax {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut signatures: Vec<ErrorSignature> = Vec::new();
        for e in parsed.signature {
            let incomplete = |problem: &str| CatalogueError::Incomplete {
                file: file.to_path_buf(),
                id: e.id.clone(),
                problem: problem.to_string(),
            };
            if e.id.is_empty()
                || e.id == UNKNOWN
                || !e
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(incomplete(
                    "ids are lowercase letters, digits and `-`, and not `unknown`",
                ));
            }
            if signatures.iter().any(|s| s.id == e.id) {
                return Err(CatalogueError::DuplicateId {
                    file: file.to_path_buf(),
                    id: e.id,
                });
            }
            if e.patterns.is_empty() {
                return Err(incomplete("it has no patterns"));
            }
            if e.explanation.trim().is_empty() || e.remedy.trim().is_empty() {
                return Err(incomplete("its explanation and remedy must not be empty"));
            }
            let mut patterns = Vec::new();
            for p in &e.patterns {
                let re = Regex::new(p).map_err(|err| CatalogueError::BadPattern {
                    file: file.to_path_buf(),
                    id: e.id.clone(),
                    pattern: p.clone(),
                    message: err.to_string(),
                })?;
                patterns.push(re);
            }
            signatures.push(ErrorSignature {
                id: e.id,
                layer: e.layer,
                kind: e.kind,
                patterns,
                explanation: collapse(&e.explanation),
                remedy: collapse(&e.remedy),
                references: e.references,
                examples: e.examples,
                untested: e.untested,
                transient: e.transient,
            });
        }
        Ok(Catalogue { signatures })
    }

    pub fn get(&self, id: &str) -> Option<&ErrorSignature> {
        self.signatures.iter().find(|s| s.id == id)
    }

    /// The first signature that matches `line`.
    pub fn match_line(&self, line: &str) -> Option<&ErrorSignature> {
        self.signatures.iter().find(|s| s.matches(line))
    }

    /// The cause that explains a failure whose decisive line is `line`: the first cause whose
    /// patterns match that line, `unknown` when none does (or there is no line). Only the
    /// decisive line counts: dockerd logs errors on its way to the real failure (its probing
    /// of storage drivers, cgroup warnings), and an entry matched by one of those would give a
    /// confident cause and remedy that have nothing to do with why it stopped. A wrong
    /// explanation is worse than `unknown`, which the report lists as a catalogue gap.
    pub fn diagnose(&self, line: Option<&str>) -> String {
        line.and_then(|l| {
            self.signatures
                .iter()
                .find(|s| s.kind == Kind::Cause && s.matches(l))
        })
        .map_or_else(|| UNKNOWN.to_string(), |s| s.id.clone())
    }
}

/// A TOML multi-line string as one paragraph.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_is_valid() {
        let c = Catalogue::parse(BUILTIN, Path::new(BUILTIN_PATH)).unwrap();
        assert!(!c.signatures.is_empty());
    }

    /// Every signature carries a real line it must match and one it must not: a pattern that
    /// drifts from what runsc or dockerd print fails here, not silently in a report.
    #[test]
    fn every_signature_matches_its_examples() {
        let c = Catalogue::builtin();
        let mut problems = Vec::new();
        for s in &c.signatures {
            if s.examples.matches.is_empty() || s.examples.no_match.is_empty() {
                problems.push(format!(
                    "{}: needs at least one `examples.match` and one `examples.no_match`",
                    s.id
                ));
            }
            for l in &s.examples.matches {
                match c.match_line(l) {
                    Some(m) if m.id == s.id => {}
                    Some(m) => problems.push(format!(
                        "{}: its example is claimed by `{}` first:\n    {l}",
                        s.id, m.id
                    )),
                    None => {
                        problems.push(format!("{}: does not match its example:\n    {l}", s.id))
                    }
                }
            }
            for l in &s.examples.no_match {
                if s.matches(l) {
                    problems.push(format!("{}: matches its counter-example:\n    {l}", s.id));
                }
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// Catalogue hygiene: a sample line is claimed by its own entry alone (two entries that
    /// claim one line would make the diagnosis depend on the file's order), and every
    /// pattern of an entry matches one of its samples (a pattern no real line shows is a
    /// guess).
    #[test]
    fn each_sample_is_claimed_by_exactly_its_entry_and_each_pattern_has_a_sample() {
        let c = Catalogue::builtin();
        let mut problems = Vec::new();
        for s in &c.signatures {
            for l in &s.examples.matches {
                let claimants: Vec<&str> = c
                    .signatures
                    .iter()
                    .filter(|o| o.matches(l))
                    .map(|o| o.id.as_str())
                    .collect();
                if claimants != [s.id.as_str()] {
                    problems.push(format!(
                        "{}: sample claimed by {claimants:?}:\n    {l}",
                        s.id
                    ));
                }
            }
            for p in &s.patterns {
                if !s.examples.matches.iter().any(|l| p.is_match(l)) {
                    problems.push(format!(
                        "{}: pattern `{p}` matches none of its samples",
                        s.id
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    #[test]
    fn every_signature_carries_a_real_sample() {
        for s in &Catalogue::builtin().signatures {
            assert!(
                !s.examples.matches.is_empty(),
                "{} has no sample line",
                s.id
            );
        }
    }

    #[test]
    fn a_bad_pattern_names_the_signature_and_the_pattern() {
        let text = r#"
[[signature]]
id = "broken"
layer = "dockerd"
patterns = ["unclosed ("]
explanation = "x"
remedy = "y"
"#;
        let e = Catalogue::parse(text, Path::new("errors.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`broken`"), "{msg}");
        assert!(msg.contains("`unclosed (`"), "{msg}");
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let text = r#"
[[signature]]
id = "x"
layer = "dockerd"
pattern = ["a"]
explanation = "x"
remedy = "y"
"#;
        let e = Catalogue::parse(text, Path::new("errors.toml")).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
    }

    #[test]
    fn duplicate_ids_are_an_error() {
        let one = "[[signature]]\nid = \"x\"\nlayer = \"host\"\npatterns = [\"a\"]\nexplanation = \"e\"\nremedy = \"r\"\n";
        let e = Catalogue::parse(&format!("{one}{one}"), Path::new("errors.toml")).unwrap_err();
        assert!(matches!(e, CatalogueError::DuplicateId { .. }), "{e}");
    }

    /// dockerd logs errors on its way to the real failure: its storage-driver probing
    /// (`failed to mount overlay: invalid argument`, an entry of its own) comes long before
    /// the network controller's failure that stops it. Captured from a real trial on dockerd
    /// 20.10 (bookworm) under runsc 20240729 (`tests/fixtures/logs/`).
    const STORAGE_PROBING_THEN_NFT: &str =
        include_str!("../../tests/fixtures/logs/nft-after-storage-probing.log");

    fn outcome_of(log: &str) -> crate::trial::outcome::Outcome {
        let mut o: crate::trial::outcome::Outcome = serde_json::from_value(serde_json::json!({
            "trial": "t::oci::r", "case": "t", "runtime": "r", "launcher": "oci",
            "network": "none", "network_substituted": false, "verdict": "exited",
            "ready_ms": null, "exit_code": 1, "decisive": null, "error_lines": [],
            "log_tail": []
        }))
        .unwrap();
        o.decisive = crate::trial::observe::decisive_line(log);
        o.error_lines = crate::trial::observe::error_lines(log);
        o
    }

    #[test]
    fn the_decisive_line_is_the_diagnosis_and_earlier_matches_are_only_also_seen() {
        let mut o = outcome_of(STORAGE_PROBING_THEN_NFT);
        o.classify(Catalogue::builtin());
        assert_eq!(o.diagnosis.as_deref(), Some("nftables-unsupported"));
        assert!(o.catalogue_ids.iter().any(|i| i == "overlay-mount-einval"));
    }

    #[test]
    fn an_uncatalogued_decisive_line_is_unknown_whatever_else_matched() {
        // Without the entry for the decisive line, the storage-driver line must not step in
        // with its cause and remedy: the failure is a gap in the catalogue.
        let mut c = Catalogue::builtin().clone();
        c.signatures.retain(|s| s.id != "nftables-unsupported");
        let mut o = outcome_of(STORAGE_PROBING_THEN_NFT);
        o.classify(&c);
        assert_eq!(o.diagnosis.as_deref(), Some(UNKNOWN), "{o:?}");
        assert!(
            o.catalogue_ids.iter().any(|i| i == "overlay-mount-einval"),
            "the earlier line is still named, as also seen: {:?}",
            o.catalogue_ids
        );
    }

    #[test]
    fn a_failure_explained_only_by_symptoms_is_unknown() {
        let c = Catalogue::builtin();
        let symptom = c
            .signatures
            .iter()
            .find(|s| s.kind == Kind::Symptom)
            .expect("the catalogue has symptoms");
        let line = symptom.examples.matches[0].as_str();
        assert_eq!(c.diagnose(Some(line)), UNKNOWN);
        assert_eq!(c.diagnose(None), UNKNOWN);
    }
}
