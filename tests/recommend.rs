//! The report's first screen answers a newcomer's three questions (issue 24), rendered from a
//! fixture of the committed corpus run (`tests/fixtures/results-corpus.json`: the results of
//! `scripts/run` at 755db4f, log tails and timings removed, each case's cgroup mode added).

use dindcheck::report::{self, Results};
use dindcheck::trial::outcome::Verdict;

fn fixture() -> Results {
    let text = include_str!("fixtures/results-corpus.json");
    serde_json::from_str(text).expect("the fixture is a results file")
}

/// The report up to the root causes: what a reader sees first.
fn first_screen(r: &Results) -> String {
    let md = report::markdown(r);
    md.split("### Top root causes").next().unwrap().to_string()
}

#[test]
fn the_recommendation_is_a_recipe_ready_under_both_launchers() {
    let screen = first_screen(&fixture());
    let line = screen
        .lines()
        .find(|l| l.starts_with("- **runsc-20240729**"))
        .expect("a line for runsc-20240729");
    // Ready under both launchers, the only `docker run --runtime=runsc` form: not the claims
    // that sort first by name, nor the recipes ready under one launcher only.
    assert!(
        line.contains("use **[gvisor-tutorial-cap-add-all](cases/gvisor-tutorial-cap-add-all.md)** (a recipe), ready under oci and engine"),
        "{line}"
    );
    assert!(!line.contains("claim-"), "{line}");
    // Per launcher, ties are counted, and claims never tie with recipes.
    let oci = screen
        .lines()
        .find(|l| l.starts_with("  - under `oci`:"))
        .unwrap();
    assert!(oci.contains("and 3 more tied"), "{oci}");
    assert!(!oci.contains("claim-"), "{oci}");
    assert!(screen.contains("runsc-20221219** (0.0~20221219.0-2+b3): no case became ready."));
}

#[test]
fn the_least_it_needs_carries_its_caveats_and_links() {
    let screen = first_screen(&fixture());
    let least = screen
        .split("### The least it needs")
        .nth(1)
        .unwrap()
        .split("###")
        .next()
        .unwrap();
    for caveat in [
        "[answers/cases/gvisor-tutorial-minimal-runsc-20240729.toml](answers/cases/gvisor-tutorial-minimal-runsc-20240729.toml)",
        "still needs `cgroup = \"gvisor\"`",
        "found under the `oci` launcher",
        "not expressible under `engine`",
        "derived with `--network=none`",
        "[Minimal recipes](minimal-recipes.md)",
    ] {
        assert!(least.contains(caveat), "{caveat} missing:\n{least}");
    }
}

#[test]
fn the_one_change_that_fixes_yours_names_the_smallest_fix() {
    let screen = first_screen(&fixture());
    assert!(
        screen.contains("exited (devices-cgroup-missing): fixed by `cgroup = \"gvisor\"` (trial 2, confirmed 2/2), and 4 other fixes."),
        "{screen}"
    );
    assert!(screen.contains("[One change that fixes it](#one-change-that-fixes-it)"));
    assert!(screen.contains("no change tried fixes it"), "{screen}");
}

#[test]
fn a_claim_is_named_only_where_no_recipe_became_ready() {
    let mut r = fixture();
    for o in r.outcomes.iter_mut() {
        if !o.case.starts_with("claim-") {
            o.verdict = Verdict::Exited;
        }
    }
    let screen = first_screen(&r);
    assert!(
        screen.contains("(a claim: no recipe became ready)"),
        "{screen}"
    );
}

/// Evidence lines are never cut: a decisive line of 300 characters, whose cause is at its
/// end, reaches the case page and the one-line summary whole (issue 24: "…apply caps:
/// operation not permitted" was cut off at 110–160 characters).
#[test]
fn a_long_evidence_line_is_shown_whole() {
    let mut r = fixture();
    let tail = "apply caps: operation not permitted";
    let long = format!("{} {tail}", "x".repeat(260));
    let o = r
        .outcomes
        .iter_mut()
        .find(|o| o.case == "history-a-socket-only")
        .unwrap();
    o.decisive = Some(long.clone());
    assert!(report::summary_line(o).ends_with(tail));
    let rendered = report::render(&r);
    let (_, page) = rendered
        .case_pages
        .iter()
        .find(|(c, _)| c == "history-a-socket-only")
        .unwrap();
    assert!(page.contains(&long), "the page cuts the line");
}
