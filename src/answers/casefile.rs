//! The result of `minimize` as a case file: it `extend`s the original and sets only what
//! the search changed, with its provenance in `source`, so that it can join the corpus (and
//! the gate) beside the case it came from. The file is checked by loading it with the
//! normal case loader, beside the corpus, and comparing what it resolves to with the result.

use std::path::{Path, PathBuf};

use crate::case::{self, Case};

/// Why the case file could not be written or did not load as the result.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to serialise the case: {0}")]
    Serialise(#[from] toml::ser::Error),
    #[error("the written case {path} does not load with the corpus: {message}")]
    DoesNotLoad { path: PathBuf, message: String },
}

/// The case file's text: `extend = original` and the keys whose values differ. A table key
/// the result removed (from `env` or `daemon_json`) cannot be undone by `extend`, which
/// merges tables key by key: then the file is the whole case, with no `extend`
/// (`cases/README.md`, "Inheritance").
pub fn text(original: &Case, result: &Case, header: &Header) -> Result<String, CaseFileError> {
    let mut t = toml::Table::new();
    let put = |t: &mut toml::Table, k: &str, v: toml::Value| {
        t.insert(k.to_string(), v);
    };
    let removes_table_keys = |a: Option<&toml::Table>, b: Option<&toml::Table>| {
        a.is_some_and(|a| a.keys().any(|k| !b.is_some_and(|b| b.contains_key(k))))
    };
    let env = |c: &Case| {
        c.env
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
            .collect::<toml::Table>()
    };
    let standalone = removes_table_keys(
        original.dockerd.daemon_json.as_ref(),
        result.dockerd.daemon_json.as_ref(),
    ) || removes_table_keys(Some(&env(original)), Some(&env(result)));
    put(&mut t, "name", header.name.clone().into());
    if standalone {
        let whole = toml::Table::try_from(result)?;
        for (k, v) in whole {
            if !["name", "abstract", "extend"].contains(&k.as_str()) {
                t.insert(k, v);
            }
        }
    } else {
        put(&mut t, "extend", original.name.clone().into());
        if original.capabilities.resolve() != result.capabilities.resolve() {
            put(
                &mut t,
                "capabilities",
                toml::Value::try_from(&result.capabilities)?,
            );
        }
        let mut dockerd = toml::Table::new();
        if original.dockerd.args != result.dockerd.args {
            dockerd.insert("args".into(), toml::Value::try_from(&result.dockerd.args)?);
        }
        if !dockerd.is_empty() {
            put(&mut t, "dockerd", dockerd.into());
        }
        if original.runsc.flags != result.runsc.flags {
            let mut runsc = toml::Table::new();
            runsc.insert("flags".into(), toml::Value::try_from(&result.runsc.flags)?);
            put(&mut t, "runsc", runsc.into());
        }
        if original.mounts != result.mounts {
            put(&mut t, "mounts", toml::Value::try_from(&result.mounts)?);
        }
        if original.setup != result.setup {
            put(&mut t, "setup", result.setup.clone().into());
        }
    }
    put(&mut t, "description", header.description.clone().into());
    put(&mut t, "source", header.source.clone().into());
    put(&mut t, "claim", header.claim.clone().into());
    put(&mut t, "claimed", "works".into());
    if !result.claimed_probes.is_empty() {
        put(
            &mut t,
            "claimed_probes",
            toml::Value::try_from(&result.claimed_probes)?,
        );
    }
    Ok(format!(
        "# Written by `dindcheck minimize` (docs/usage.md, \"Answers\"): {}\n{}",
        header.description,
        toml::to_string(&t)?
    ))
}

/// The name, description, provenance and claim of a written case.
#[derive(Clone, Debug)]
pub struct Header {
    pub name: String,
    pub description: String,
    pub source: String,
    pub claim: String,
}

/// Writes `text` as `dir/<name>.toml` and loads it with the case files of `corpus_dir`
/// (which hold the case it extends), returning the case the loader made of it.
pub fn write_and_load(
    dir: &Path,
    name: &str,
    text: &str,
    corpus_dir: &Path,
    allow: &[case::Permission],
) -> Result<(PathBuf, Case), CaseFileError> {
    let path = dir.join(format!("{name}.toml"));
    let write = |p: &Path, s: &str| {
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(p, s))
            .map_err(|source| CaseFileError::Write {
                path: p.to_path_buf(),
                source,
            })
    };
    write(&path, text)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir)
        .map_err(|source| CaseFileError::Write {
            path: corpus_dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        // A copy of this very file in the corpus (it was added to it) is the same case.
        .filter(|p| p.file_stem().is_none_or(|s| s != name))
        .collect();
    files.sort();
    files.push(path.clone());
    let corpus = case::load::load_files_allowing(&files, allow);
    let bad = |message: String| CaseFileError::DoesNotLoad {
        path: path.clone(),
        message,
    };
    if let Some(e) = corpus.errors.iter().find(|e| e.file == path) {
        return Err(bad(e.headline()));
    }
    let loaded = corpus
        .get(name)
        .cloned()
        .ok_or_else(|| bad("the loader did not return it".into()))?;
    Ok((path, loaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` written as `orig.toml` in a new `corpus` directory, loaded as a case.
    fn loaded(corpus: &Path, text: &str) -> Case {
        std::fs::create_dir(corpus).unwrap();
        std::fs::write(corpus.join("orig.toml"), text).unwrap();
        case::load_dir(corpus).unwrap().get("orig").unwrap().clone()
    }

    #[test]
    fn the_written_case_extends_the_original_and_loads_as_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("cases");
        let original = loaded(
            &corpus,
            "source = \"s\"\nclaim = \"c\"\nrootfs = \"bookworm\"\n[dockerd]\nargs = [\"--iptables=false\", \"--bridge=none\"]\n[[mounts]]\ntype = \"tmpfs\"\ndestination = \"/var/lib/docker\"\n",
        );
        let mut result = original.clone();
        result.capabilities = toml::from_str("base = \"none\"\nadd = [\"SYS_ADMIN\"]").unwrap();
        result.dockerd.args.truncate(1);
        result.mounts.clear();
        let header = Header {
            name: "orig-minimal".into(),
            description: "d".into(),
            source: "dindcheck minimize orig".into(),
            claim: "ready".into(),
        };
        let text = text(&original, &result, &header).unwrap();
        assert!(text.contains("extend = \"orig\""), "{text}");
        let (_, loaded) =
            write_and_load(&dir.path().join("out"), "orig-minimal", &text, &corpus, &[]).unwrap();
        let key = |c: &Case| crate::answers::parts::config_key(c, "r", "oci", "none");
        assert_eq!(key(&loaded), key(&result));
        assert_eq!(loaded.source, "dindcheck minimize orig");
    }

    #[test]
    fn a_removed_environment_variable_makes_a_whole_case_not_an_extension() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("cases");
        let original = loaded(
            &corpus,
            "source = \"s\"\nclaim = \"c\"\nrootfs = \"bookworm\"\n[env]\nA = \"1\"\nB = \"2\"\n",
        );
        let mut result = original.clone();
        result.env.remove("A");
        let header = Header {
            name: "orig-minimal".into(),
            description: "d".into(),
            source: "s2".into(),
            claim: "c2".into(),
        };
        let text = text(&original, &result, &header).unwrap();
        assert!(!text.contains("extend"), "{text}");
        let (_, loaded) =
            write_and_load(&dir.path().join("out"), "orig-minimal", &text, &corpus, &[]).unwrap();
        assert_eq!(loaded.env.keys().collect::<Vec<_>>(), ["B"]);
    }
}
