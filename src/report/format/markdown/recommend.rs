//! The report's first screen: the three questions a newcomer asks, answered from the results.
//! Which recipe works here (per runtime, and per launcher), the least it needs (the minimal
//! recipe `dindcheck minimize` found, with its caveats), and the one change that fixes yours
//! (`dindcheck repair`). No timing figure appears here, so that a rerun with the same
//! outcomes leaves it unchanged.
//!
//! A **recipe** is a case from a real source (a tutorial, a design note, a project's
//! history); a **claim** is a case that tests one assertion (`docs/seed-recipes.md`'s claims),
//! named `claim-…` by the corpus's convention (`cases/README.md`). A claim runs some recipe's
//! configuration to check one sentence, so recipes are recommended first; a claim is named
//! only where no recipe became ready.

use std::fmt::Write as _;

use super::table::{catalogue_link, cell};
use crate::report::answers::{Minimized, SearchKind};
use crate::report::format::files::MINIMAL_RECIPES_PAGE;
use crate::report::results::Results;
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::probe::ProbeVerdict;

/// Whether `case` is a claim (tests an assertion) rather than a recipe: its name starts with
/// `claim-`.
pub fn is_claim(case: &str) -> bool {
    case.starts_with("claim-")
}

/// The probes whose passing means the nested containers have real networking.
/// The local probes that use a nested network (the network probes count as well).
const NETWORK_PROBES: &[&str] = &["run-default", "run-host"];

/// One case's ready trials on one runtime, over the launchers considered.
struct Standing<'a> {
    case: &'a str,
    ready: Vec<&'a Outcome>,
}

impl Standing<'_> {
    /// What ranks it, best first when compared in reverse: a recipe before a claim, then the
    /// launchers it passes every probe under, the launchers it is ready under, the nested
    /// networking probes that pass, and the probes that pass in all.
    fn rank(&self) -> (bool, usize, usize, usize, usize) {
        let every = self
            .ready
            .iter()
            .filter(|o| {
                !o.probes.is_empty() && o.applicable_probes().all(|p| p.verdict == ProbeVerdict::Ok)
            })
            .count();
        let network = self
            .ready
            .iter()
            .flat_map(|o| o.probes.iter())
            .filter(|p| {
                p.verdict == ProbeVerdict::Ok
                    && (p.probe.is_network() || NETWORK_PROBES.contains(&p.probe.as_str()))
            })
            .count();
        let probes = self
            .ready
            .iter()
            .flat_map(|o| o.probes.iter())
            .filter(|p| p.verdict == ProbeVerdict::Ok)
            .count();
        (
            !is_claim(self.case),
            every,
            self.ready.len(),
            network,
            probes,
        )
    }
}

/// The cases ready on `runtime` under `launcher` (or any launcher), best first, grouped by
/// rank: the first group is the recommendation and those tied with it.
fn ranked<'a>(r: &'a Results, runtime: &str, launcher: Option<&str>) -> Vec<Vec<Standing<'a>>> {
    let mut standings: Vec<Standing> = Vec::new();
    for o in r.outcomes.iter().filter(|o| {
        o.runtime == runtime
            && o.verdict == Verdict::Ready
            && launcher.is_none_or(|l| o.launcher.as_str() == l)
    }) {
        match standings.iter_mut().find(|s| s.case == o.case) {
            Some(s) => s.ready.push(o),
            None => standings.push(Standing {
                case: &o.case,
                ready: vec![o],
            }),
        }
    }
    // The OCI launcher first: its command is the plainest to reproduce.
    for s in standings.iter_mut() {
        s.ready
            .sort_by_key(|o| o.launcher != crate::trial::launch::Launcher::Oci);
    }
    standings.sort_by(|a, b| b.rank().cmp(&a.rank()).then(a.case.cmp(b.case)));
    let mut groups: Vec<Vec<Standing>> = Vec::new();
    for s in standings {
        match groups.last_mut() {
            Some(g) if g[0].rank() == s.rank() => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    groups
}

fn case_link(case: &str) -> String {
    format!("[{case}](cases/{case}.md)")
}

/// `6/7 probes (not: exec ✖ …)` for one trial.
fn probes_line(o: &Outcome) -> String {
    let failed: Vec<String> = o
        .applicable_probes()
        .filter(|p| p.verdict != ProbeVerdict::Ok)
        .map(|p| match &p.diagnosis {
            Some(d) => format!("{} {}", p.probe, catalogue_link(&format!("✖ {d}"), d)),
            None => format!("{} {}", p.probe, p.verdict.as_str()),
        })
        .collect();
    let ok = o
        .probes
        .iter()
        .filter(|p| p.verdict == ProbeVerdict::Ok)
        .count();
    match (o.applicable_probes().count(), failed.is_empty()) {
        (0, _) => "no probe ran".to_string(),
        (n, true) => format!("{ok}/{n} probes"),
        (n, false) => format!("{ok}/{n} probes (not: {})", failed.join(", ")),
    }
}

/// The command that reproduces one trial (a merged report's runtime loses its host suffix).
pub(super) fn command(r: &Results, o: &Outcome) -> String {
    let runtime = o.runtime.split(" (").next().unwrap_or(&o.runtime);
    let mut c = format!(
        "dindcheck run --case {} --runtime {runtime} --launcher {}",
        o.case, o.launcher
    );
    if let Some(net) = &r.network_override {
        let _ = write!(c, " --runsc-network {net}");
    }
    c
}

/// `and 3 more tied: [a](…), [b](…), [c](…)`, or nothing.
fn tied(group: &[Standing]) -> String {
    if group.len() < 2 {
        return String::new();
    }
    let names: Vec<String> = group[1..].iter().map(|s| case_link(s.case)).collect();
    format!("; and {} more tied: {}", group.len() - 1, names.join(", "))
}

/// "Which recipe works here": per runtime the best case over every launcher, then the best
/// under each launcher.
fn which_recipe(md: &mut String, r: &Results) {
    let _ = writeln!(md, "\n### Which recipe works here\n");
    let launchers = crate::report::format::view::launchers(r);
    for rt in &r.runtimes {
        let _ = write!(md, "- **{}** ({}): ", cell(&rt.name), cell(&rt.version));
        let groups = ranked(r, &rt.name, None);
        let Some(best) = groups.first() else {
            let _ = writeln!(md, "no case became ready.");
            continue;
        };
        let s = &best[0];
        let under: Vec<&str> = s.ready.iter().map(|o| o.launcher.as_str()).collect();
        let kind = if is_claim(s.case) {
            "a claim: no recipe became ready"
        } else {
            "a recipe"
        };
        let _ = writeln!(
            md,
            "use **{}** ({kind}), ready under {}: {}; `{}`{}.",
            case_link(s.case),
            under.join(" and "),
            probes_line(s.ready[0]),
            command(r, s.ready[0]),
            tied(best)
        );
        if launchers.len() > 1 {
            for l in &launchers {
                let groups = ranked(r, &rt.name, Some(l.as_str()));
                let line = match groups.first() {
                    Some(g) => format!(
                        "{}, {}{}",
                        case_link(g[0].case),
                        probes_line(g[0].ready[0]),
                        tied(g)
                    ),
                    None => "no case became ready".to_string(),
                };
                let _ = writeln!(md, "  - under `{l}`: {line}");
            }
        }
    }
}

/// The caveats of a minimal recipe: the cgroup mode it still needs, the launchers it was
/// found and can be expressed under, the network mode it was derived with.
fn caveats(r: &Results, m: &Minimized) -> Vec<String> {
    let mut caveats = Vec::new();
    if let Some(cgroup) = r
        .cases
        .iter()
        .find(|c| c.name == m.asked.case)
        .and_then(|c| c.cgroup.as_deref())
    {
        caveats.push(format!("still needs `cgroup = \"{cgroup}\"`"));
    }
    caveats.push(format!("found under the `{}` launcher", m.asked.launcher));
    for n in &r.not_expressible {
        let mut parts = n.trial.split("::");
        let (case, launcher, runtime) = (parts.next(), parts.next(), parts.next());
        if case == Some(m.asked.case.as_str()) && runtime == Some(m.asked.runtime.as_str()) {
            caveats.push(format!(
                "not expressible under `{}`: {}",
                launcher.unwrap_or_default(),
                cell(&n.reason)
            ));
        }
    }
    caveats.push(format!(
        "derived with `--network={}`{}",
        m.asked.network,
        if m.asked.network == "none" {
            " (nested networking was not part of the target)"
        } else {
            ""
        }
    ));
    if !m.stable {
        caveats.push("**flaky**: a confirmation lost the target".into());
    }
    caveats
}

/// A minimal recipe's case file as the report links it: the answers directory is beside
/// REPORT.md, so the link starts at `answers/`.
fn case_file_link(path: &str) -> String {
    match path.find("answers/") {
        Some(i) => format!("[{}]({})", &path[i..], &path[i..]),
        None => format!("`{}`", cell(path)),
    }
}

/// "The least it needs": every minimal recipe `minimize` saved, with its caveats.
fn least_it_needs(md: &mut String, r: &Results) {
    let _ = writeln!(md, "\n### The least it needs\n");
    let minimal: Vec<&Minimized> = r
        .answers
        .minimized
        .iter()
        .filter(|m| m.kind == SearchKind::Minimize)
        .collect();
    if minimal.is_empty() {
        let _ = writeln!(
            md,
            "No minimal recipe saved: `dindcheck minimize CASE --runtime R` finds one (docs/usage.md)."
        );
        return;
    }
    for m in minimal {
        let file = m
            .case_file
            .as_deref()
            .map_or("the minimal recipe".to_string(), case_file_link);
        let _ = writeln!(
            md,
            "- **{}**, from {}: {file} keeps {} of its {} parts ({} capabilities), keeping `{}`; {}. \
             Every part's evidence: [Minimal recipes]({MINIMAL_RECIPES_PAGE}).",
            cell(&m.asked.runtime),
            case_link(&m.asked.case),
            m.kept.len(),
            m.parts.len(),
            m.capabilities.len(),
            m.asked.target.join(", "),
            caveats(r, m).join("; ")
        );
    }
}

/// "The one change that fixes yours": every `repair` saved, its smallest fix first.
fn one_change(md: &mut String, r: &Results) {
    let _ = writeln!(md, "\n### The one change that fixes yours\n");
    if r.answers.repaired.is_empty() {
        let _ = writeln!(
            md,
            "No repair saved: write your recipe as a case file and run `dindcheck repair CASE \
             --runtime R` (docs/usage.md)."
        );
        return;
    }
    for p in &r.answers.repaired {
        let head = format!(
            "- {} on **{}** (`{}`, `--network={}`), {}",
            case_link(&p.asked.case),
            cell(&p.asked.runtime),
            p.asked.launcher,
            p.asked.network,
            cell(&p.failing)
        );
        let line = match p.ranked_fixes().first() {
            Some(f) => format!(
                "{head}: fixed by `{}` (trial {}, confirmed {}/{}){}{}.",
                cell(&f.changes.join(" + ")),
                f.trial,
                f.confirmed,
                f.confirmations.len(),
                // Only degenerate fixes: say what the one named switches off.
                f.degenerate()
                    .map(|why| format!(", degenerate: it {why}"))
                    .unwrap_or_default(),
                match p.fixes.len() - 1 {
                    0 => String::new(),
                    n => format!(", and {n} other fixes"),
                }
            ),
            None => format!(
                "{head}: no change tried fixes it ({} trials{}).",
                p.trials.len(),
                if p.budget_exhausted {
                    ", the trial budget ran out"
                } else {
                    ""
                }
            ),
        };
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(
        md,
        "\nEvery fix with its evidence: [One change that fixes it](#one-change-that-fixes-it)."
    );
}

/// The three answers, in the order a newcomer asks them.
pub(super) fn first_screen(md: &mut String, r: &Results) {
    which_recipe(md, r);
    least_it_needs(md, r);
    one_change(md, r);
}
