//! `dindcheck minimize` and `dindcheck repair` (issue 13) against real runsc, on small cases
//! of their own so that each search is a few dozen short trials: a part the case does not
//! need is removed with the trial that proves it, the minimal recipe is written as a case
//! that extends the original and loads with the corpus, and a case without a cgroup mount is
//! repaired by the corpus's own `cgroup = "gvisor"`. The search itself (ddmin, memoisation,
//! flaky verdicts) is unit-tested on pure predicates in `src/answers/`.

mod common;

use std::path::Path;
use std::process::Command;

use dindcheck::report::answers::{Minimized, Part, PartStatus, Repaired};

/// What dockerd 20.10 needs to become ready on the newest runsc, and a few parts it does not
/// need (a mount, a setup line), for the search to find.
const SMALL: &str = r#"
source = "tests/answers.rs"
claim = "ready"
rootfs = "bookworm"
cgroup = "gvisor"
setup = "true\n"
probes = []
[capabilities]
base = "none"
add = ["CHOWN", "DAC_OVERRIDE", "NET_ADMIN", "SETUID", "SETGID"]
[dockerd]
args = ["--iptables=false"]
[[mounts]]
type = "tmpfs"
destination = "/tmp/dindcheck-unused"
"#;

fn dindcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .args(args)
        .env("DINDCHECK_RUNSC_NETWORK", "none")
        .env_remove("DINDCHECK_RUNSC_PATHS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `dindcheck COMMAND CASE --runtime RUNTIME EXTRA… --cases CASES --out OUT`: a search
/// (`minimize` or `repair`) over the corpus `cases`, saving its answer under `out`.
fn search(
    command: &str,
    case: &str,
    runtime: &str,
    extra: &[&str],
    cases: &Path,
    out: &Path,
) -> (i32, String) {
    let mut args = vec![command, case, "--runtime", runtime];
    args.extend_from_slice(extra);
    let (cases, out) = (cases.to_str().unwrap(), out.to_str().unwrap());
    args.extend_from_slice(&["--cases", cases, "--out", out]);
    dindcheck(&args)
}

fn corpus(dir: &Path, cases: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in cases {
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
}

#[test]
fn minimize_removes_what_a_small_case_does_not_need_and_writes_a_case_that_loads() {
    let Some((_, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cases = tmp.path().join("cases");
    let out = tmp.path().join("answers");
    corpus(&cases, &[("small", SMALL)]);
    let (code, text) = search(
        "minimize",
        "small",
        &runtime.name,
        &["--keep", "ready", "--confirm", "2"],
        &cases,
        &out,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("removed    mount /tmp/dindcheck-unused: removed: trial"),
        "{text}"
    );
    assert!(text.contains("removed    setup line `true`"), "{text}");
    assert!(
        text.contains(
            "kept       dockerd --iptables=false: without it: exited (nftables-unsupported)"
        ),
        "{text}"
    );
    let json = out.join(format!("minimize-small-{}.json", runtime.name));
    let m: Minimized = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        !m.kept
            .contains(&Part::Mount("/tmp/dindcheck-unused".into()))
    );
    assert!(m.stable, "{text}");
    for f in &m.parts {
        assert!(!f.trials.is_empty(), "{f:?} has no trial");
        if f.status == PartStatus::Needed {
            assert!(f.trials.iter().all(|id| !m.trials[id - 1].pass), "{f:?}");
        }
    }
    assert_eq!(m.trials.iter().map(|t| t.id).max(), Some(m.trials.len()));
    assert!(
        text.contains(&format!("trials: {} (", m.trials.len())),
        "{text}"
    );
    // The written case extends the original and loads with the corpus.
    let file = Path::new(m.case_file.as_deref().unwrap()).to_path_buf();
    let loaded = dindcheck::case::load::load_files(&[cases.join("small.toml"), file.clone()]);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("extend = \"small\""), "{written}");
    let case = loaded
        .get(&format!("small-minimal-{}", runtime.name))
        .unwrap();
    assert!(case.mounts.is_empty(), "{written}");
    assert!(case.setup.is_empty(), "{written}");
}

#[test]
fn repair_finds_the_cgroup_mount_a_case_without_one_lacks() {
    let Some((_, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cases = tmp.path().join("cases");
    let out = tmp.path().join("answers");
    let broken = SMALL
        .replace("cgroup = \"gvisor\"", "cgroup = \"none\"")
        .replace("setup = \"true\\n\"\n", "");
    corpus(&cases, &[("small", SMALL), ("broken", &broken)]);
    let (code, text) = search(
        "repair",
        "broken",
        &runtime.name,
        &["--confirm", "2"],
        &cases,
        &out,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("as it is (trial 1): exited (devices-cgroup-missing)"),
        "{text}"
    );
    assert!(text.contains("fix: cgroup = \"gvisor\": trial "), "{text}");
    let json = out.join(format!("repair-broken-{}.json", runtime.name));
    let r: Repaired = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let fix = r
        .fixes
        .iter()
        .find(|f| f.changes == ["cgroup = \"gvisor\""])
        .unwrap();
    assert!(r.trials[fix.trial - 1].pass);
    assert_eq!(fix.confirmed, fix.confirmations.len(), "{text}");
    assert!(!r.searched_pairs);
    // A case that already works has nothing to repair: no answer, exit status 5.
    let (code, text) = search("repair", "small", &runtime.name, &[], &cases, &out);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("already keeps the target"), "{text}");
}
