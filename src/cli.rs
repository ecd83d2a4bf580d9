//! The command line: what `dindcheck` accepts (clap), the [`Selection`] its options make,
//! and the exit statuses; what the commands print and write is `src/cli_print.rs`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use dindcheck::case::RunscNetwork;
use dindcheck::gate;
use dindcheck::inventory;
use dindcheck::own_runsc;
use dindcheck::report;
use dindcheck::session::Selection;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::plan;

/// Measures whether, and how, Docker runs inside gVisor: every case under every runsc.
#[derive(Parser)]
#[command(version, about, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line, with every `DINDCHECK_*` variable that is set but empty treated as
    /// unset (docs/usage.md: an empty `DINDCHECK_RUNSC_NETWORK` runs each case in its own mode; an
    /// empty `DINDCHECK_CASES` or `DINDCHECK_HOME` is the default, not an error).
    pub fn parse_with_env() -> Cli {
        let empty = |a: &clap::Arg| {
            a.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty())
        };
        let command = <Cli as clap::CommandFactory>::command()
            .mut_subcommands(|sc| sc.mut_args(|a| if empty(&a) { a.env(None) } else { a }));
        let matches = command.get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run every case × runtime under real runsc and write the report.
    #[command(after_help = EXIT_STATUS)]
    Run(RunArgs),
    /// Check the case files and list the trials a run would make.
    List(ListArgs),
    /// Diagnose this host: can it run Docker inside gVisor, and if not, why.
    Doctor(DoctorArgs),
    /// Render a report from the results.json of earlier runs: shards of one run
    /// (`run --partition`) merge into one matrix, other hosts become extra columns.
    Report(ReportArgs),
    /// Make a root filesystem from an image tarball (`docker save` output or an OCI image
    /// layout, as tar), usable as `rootfs = "NAME"` under both launchers.
    ImportImage(ImportImageArgs),
    /// Find the smallest recipe that keeps a case working (ddmin over its capabilities,
    /// dockerd arguments, daemon.json keys, runsc flags, mounts, setup lines and
    /// environment), with the trial that proves each part removed or kept; or, with
    /// `--leave-one-out`, what each part of the case is needed for.
    #[command(after_help = EXIT_STATUS)]
    Minimize(MinimizeArgs),
    /// Find the changes that make a failing case work: its neighbours, one change then
    /// pairs, from the changes the corpus itself makes, each with its trial's evidence.
    #[command(after_help = EXIT_STATUS)]
    Repair(RepairArgs),
    /// The error catalogue's coverage: every failure of saved results (a run's verdicts and
    /// failed probes, every minimize and repair trial) clustered by its line, with its
    /// count, an example and the configuration that produced it, most frequent first, and
    /// how many no catalogue entry explains.
    Gaps(GapsArgs),
}

#[derive(clap::Args)]
pub struct GapsArgs {
    /// results.json files, saved minimize/repair results, or directories of them (a report
    /// directory: its results.json and its answers/).
    #[arg(default_value = "reports")]
    pub saved: Vec<PathBuf>,
    /// Also the clusters the catalogue explains.
    #[arg(long)]
    pub all: bool,
    /// Print the clusters and the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `minimize` and `repair` share.
#[derive(clap::Args)]
pub struct AnswerArgs {
    /// The case (by name).
    pub case: String,
    /// The runtime to search on: `runsc-20240729`, or `runsc-20240729@systrap`.
    #[arg(long)]
    pub runtime: String,
    /// The launcher: `oci` or `engine`.
    #[arg(long, default_value = "oci", value_parser = parse_one_launcher)]
    pub launcher: Launcher,
    /// What must keep working: `ready` and probe names, comma-separated
    /// (e.g. `ready,run-none,build`). Default: minimize `ready,run-none`; repair `ready`
    /// and every probe the case's claim says works.
    #[arg(long, value_name = "ready|PROBE,...", value_parser = parse_target)]
    pub keep: Option<dindcheck::answers::trials::Target>,
    /// How many sandboxes at once.
    #[arg(long, short = 'j', default_value_t = 2)]
    pub jobs: usize,
    /// Runs of the result to confirm it (minimize: the minimal recipe, and each kept part's
    /// removal twice when 2 or more; repair: each fix in all). A part whose trials disagree
    /// is reported as flaky and never removed on their word.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub confirm: u64,
    /// Where results are saved as JSON (`minimize-CASE-RUNTIME.json`,
    /// `leave-one-out-…`, `repair-…`), for the report; a minimal recipe's case file goes to
    /// `cases/` below it.
    #[arg(long, default_value = "reports/answers")]
    pub out: PathBuf,
    /// Directory of case files.
    #[arg(long, env = "DINDCHECK_CASES", default_value = "cases")]
    pub cases: PathBuf,
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    pub home: PathBuf,
    /// Also a runsc binary of your own (`DINDCHECK_RUNSC_PATHS`), as for `run`.
    #[arg(long = "runsc", value_name = "PATH", env = own_runsc::PATHS_ENV, value_delimiter = ':')]
    pub runsc: Vec<PathBuf>,
    /// Replace the case's runsc network mode (sandbox, host, none), as for `run`.
    #[arg(long, env = "DINDCHECK_RUNSC_NETWORK", value_name = "MODE")]
    pub runsc_network: Option<RunscNetwork>,
    /// As for `run`: permit case files to reach the host (comma-separated, repeatable; refused at load
    /// otherwise, docs/security.md): `host-cgroup-write` (`cgroup = "host-bind-rw"`: the
    /// sandbox writes the host's cgroup tree), `tcp-listener` (a dockerd `-H`/`--host` that
    /// is not a unix socket: with the host's network, dockerd listens on the host's
    /// addresses, unauthenticated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PERMISSION,...")]
    pub allow: Vec<dindcheck::case::Permission>,
}

#[derive(clap::Args)]
pub struct MinimizeArgs {
    #[command(flatten)]
    pub answer: AnswerArgs,
    /// Instead of minimising, remove each part of the case alone ("why each flag,
    /// measured"): needed, not needed, or flaky, each with its trials.
    #[arg(long)]
    pub leave_one_out: bool,
}

#[derive(clap::Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub answer: AnswerArgs,
    /// Trials at most (re-runs included); the search of pairs stops there.
    #[arg(long, default_value_t = 150)]
    pub max_trials: usize,
    /// Search pairs of changes even when a single change fixes the case.
    #[arg(long)]
    pub pairs: bool,
}

#[derive(clap::Args)]
pub struct ImportImageArgs {
    /// The tarball: `docker save IMAGE -o FILE.tar`, or an OCI image layout packed as tar.
    pub tarball: PathBuf,
    /// The root filesystem's name, for `rootfs = "NAME"` in case files. Importing again
    /// under the same name replaces the earlier import.
    #[arg(long)]
    pub name: String,
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    pub home: PathBuf,
}

impl RunArgs {
    /// `--out`, or its default (see its `--help`).
    pub fn out(&self) -> PathBuf {
        match &self.out {
            Some(dir) => dir.clone(),
            None => match self.common.selection_name() {
                Some(name) => PathBuf::from(RUNS_DIR).join(name),
                None => PathBuf::from(REPORTS_DIR),
            },
        }
    }

    /// `--jobs`, or the default that fits this machine.
    pub fn jobs(&self) -> usize {
        self.jobs
            .map_or_else(dindcheck::session::jobs::default_jobs, |n| n as usize)
    }
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// results.json files to merge; a directory stands for every `*.json` in it (what the
    /// conformance harness writes with `DINDCHECK_RESULTS_DIR`).
    #[arg(long, required = true, num_args = 1..)]
    pub merge: Vec<PathBuf>,
    /// Where to write REPORT.md and results.json.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct Common {
    /// Directory of case files.
    #[arg(long, env = "DINDCHECK_CASES", default_value = "cases")]
    pub cases: PathBuf,
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    pub home: PathBuf,
    /// Only these cases (repeatable). Default: every case that is not abstract.
    #[arg(long = "case", value_name = "NAME")]
    pub only: Vec<String>,
    /// Only these runtimes (repeatable): `runsc-20240729`, or with a platform,
    /// `runsc-20240729@systrap`. Default: every runsc the setup installed, default platform
    /// (with `--runsc`: only those binaries).
    #[arg(long = "runtime", value_name = "NAME")]
    pub runtimes: Vec<String>,
    /// Also a runsc binary of your own (repeatable; `DINDCHECK_RUNSC_PATHS`, colon-separated):
    /// its runtime is `runsc-<release>` from its `--version`. Without `--runtime`, only these
    /// binaries run.
    #[arg(long = "runsc", value_name = "PATH", env = own_runsc::PATHS_ENV, value_delimiter = ':')]
    pub runsc: Vec<PathBuf>,
    /// Replace every case's runsc network mode (sandbox, host, none). Use `none` on hosts
    /// where runsc's sandbox networking cannot start; the report says it was substituted.
    #[arg(long, env = "DINDCHECK_RUNSC_NETWORK", value_name = "MODE")]
    pub runsc_network: Option<RunscNetwork>,
    /// Only shard K of N of the trials (`count:K/N`, as nextest's `--partition`); merge the
    /// shards' results with `dindcheck report --merge`.
    #[arg(long, value_name = "count:K/N")]
    pub partition: Option<plan::Partition>,
    /// Which launcher(s) start the sandboxes: `oci` (a hand-made bundle under `runsc`),
    /// `engine` (`docker run --runtime=runsc` through an outer dockerd), or `both`.
    #[arg(long, env = "DINDCHECK_LAUNCHER", default_value = "both", value_parser = parse_launchers)]
    pub launcher: std::vec::Vec<Launcher>,
    /// Permit case files to reach the host (comma-separated, repeatable; refused at load
    /// otherwise, docs/security.md): `host-cgroup-write` (`cgroup = "host-bind-rw"`: the
    /// sandbox writes the host's cgroup tree), `tcp-listener` (a dockerd `-H`/`--host` that
    /// is not a unix socket: with the host's network, dockerd listens on the host's
    /// addresses, unauthenticated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PERMISSION,...")]
    pub allow: Vec<dindcheck::case::Permission>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// How many sandboxes at once. Default: three per CPU core, fewer when the
    /// available memory cannot hold that many sandboxes at their limit (2 GiB each); see
    /// reports/BENCH.md for the measured scaling.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    #[command(flatten)]
    pub earlier: dindcheck::session::schedule::EarlierArgs,
    /// Run every trial this many times. A trial whose outcomes differ (as the conformance
    /// gate compares them: never timings) is reported as flaky, with each variant and how
    /// often it occurred, in the report's Stability section.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Where to write REPORT.md, results.json, the heat map and the case pages. Default:
    /// `reports` for a run of the whole corpus; for a run with a selection (`--case`,
    /// `--runtime`, `--launcher oci|engine`, `--partition`, `--runsc`),
    /// `reports/runs/<selection>/`, e.g. `reports/runs/gvisor-tutorial--runsc-20240729--oci/`,
    /// so that reproducing one trial never replaces the corpus's report.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep each trial's scratch directory (bundle, logs, output) for inspection.
    #[arg(long)]
    pub keep_scratch: bool,
    /// Readiness only: no workload probes once dockerd is ready (a verdict per trial, as
    /// fast as it can be had; the report's baseline comparison then lists the probes as
    /// changed).
    #[arg(long)]
    pub no_probes: bool,
    /// The conformance baselines to compare outcomes with, for the report's "changed since
    /// baseline" section (skipped when the directory does not exist).
    #[arg(long, env = "DINDCHECK_BASELINES", default_value = gate::BASELINE_DIR)]
    pub baselines: PathBuf,
    /// Skip the quick host checks (`dindcheck doctor --quick`) that run before the cases.
    #[arg(long)]
    pub no_doctor: bool,
    /// Run the engine launcher's trials through this existing engine (`unix:///path`)
    /// instead of one dindcheck starts. Its `runtimes` must already hold the runsc runtimes
    /// the trials need (dindcheck says which are missing); only this run's containers are
    /// removed from it.
    #[arg(long, env = "DINDCHECK_ENGINE", value_name = "unix:///PATH")]
    pub engine: Option<String>,
    /// Exit with status 3 when one of these holds (comma-separated, repeatable), for CI
    /// without nextest: `changed` (an outcome differs from its baseline), `new` (no baseline
    /// yet), `refuted` (a claim is refuted), `unknown` (a failure no catalogue entry
    /// explains), `not-ready` (a trial's dockerd did not become ready), `flaky` (a repeated
    /// trial varied).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "CONDITION,...")]
    pub fail_on: Vec<report::FailOn>,
}

/// Every command's exit statuses, for `--help` (the same table as `docs/usage.md`, "Exit
/// status").
pub const EXIT_STATUS: &str = "Exit status (every command):
  0    done: the run finished (whatever the verdicts), the recipe or fix was found
  1    partly: some case files were invalid or some trials could not run (a host fault,
       listed under \"Not run\"); doctor: cases cannot run here; minimize: the answer is
       flaky; repair: no change tried fixes the case
  2    usage error: a bad option, case or runtime name, or a file given that cannot be used
  3    run --fail-on: a condition held (and nothing gave 1)
  4    host fault, nothing could run: no inventory or runsc, the outer engine did not
       start, the output directory cannot be written, a search's trial could not run
  5    no answer: minimize's case does not keep the target as it is, repair's already does
  130  interrupted";

/// The exit status of an error that stopped a command.
pub fn exit_status(fault: dindcheck::session::Fault) -> u8 {
    match fault {
        dindcheck::session::Fault::Usage => EXIT_USAGE,
        dindcheck::session::Fault::Host => 4,
        dindcheck::session::Fault::NoAnswer => 5,
    }
}

/// The exit status of a usage error (clap's own, for a bad option, too).
pub const EXIT_USAGE: u8 = 2;

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the trials as JSON (`schemas/list.schema.json`) instead of one per line.
    #[arg(long)]
    pub json: bool,
    /// Only check the case files (and `--case` names) and list the cases: no inventory
    /// needed, so it runs on any machine (a CI lint of a corpus).
    #[arg(long, conflicts_with = "json")]
    pub cases_only: bool,
}

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    pub home: PathBuf,
    /// Print the diagnosis as JSON instead of a table (`schemas/doctor.schema.json`: a
    /// schema version, a top-level `verdict`, then every check).
    #[arg(long)]
    pub json: bool,
    /// Show each check's evidence: the commands run and the lines they printed.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Only the quick checks (no platform checks), as `dindcheck run` does first.
    #[arg(long)]
    pub quick: bool,
    /// Also check a runsc binary of your own (repeatable; `DINDCHECK_RUNSC_PATHS`).
    #[arg(long = "runsc", value_name = "PATH", env = own_runsc::PATHS_ENV, value_delimiter = ':')]
    pub runsc: Vec<PathBuf>,
}

/// Where a run of the whole corpus writes its report.
pub const REPORTS_DIR: &str = "reports";
/// Where a run with a selection writes its report, in a directory named after it.
pub const RUNS_DIR: &str = "reports/runs";

impl Common {
    /// A directory name for a run that selects part of the corpus: its cases, runtimes,
    /// launcher, partition and own runsc binaries, joined by `--` (a timestamp instead when
    /// that would be too long for a name); `None` for the whole corpus.
    pub fn selection_name(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let join = |names: &[String]| names.join("+");
        if !self.only.is_empty() {
            parts.push(join(&self.only));
        }
        if !self.runtimes.is_empty() {
            parts.push(join(&self.runtimes));
        }
        if let [one] = self.launcher.as_slice() {
            parts.push(one.as_str().to_string());
        }
        if let Some(p) = self.partition {
            parts.push(format!("part-{}-of-{}", p.index, p.count));
        }
        if !self.runsc.is_empty() {
            let binaries: Vec<String> = self
                .runsc
                .iter()
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            parts.push(format!("runsc-{}", binaries.join("+")));
        }
        if parts.is_empty() {
            return None;
        }
        let name: String = parts
            .join("--")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._@+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.len() > 120 {
            return Some(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
        }
        Some(name)
    }

    pub fn selection(&self) -> Selection {
        Selection {
            cases: self.cases.clone(),
            only: self.only.clone(),
            runtimes: self.runtimes.clone(),
            network: self.runsc_network,
            partition: self.partition,
            launchers: self.launcher.clone(),
            runsc: self.runsc.clone(),
            allow: self.allow.clone(),
        }
    }
}

/// One launcher (`minimize`, `repair`).
fn parse_one_launcher(s: &str) -> Result<Launcher, String> {
    match Launcher::parse_selection(s)
        .map_err(|e| e.to_string())?
        .as_slice()
    {
        [one] => Ok(*one),
        _ => Err(format!("`{s}`: one launcher, oci or engine")),
    }
}

fn parse_target(s: &str) -> Result<dindcheck::answers::trials::Target, String> {
    dindcheck::answers::trials::Target::parse(s)
}

/// `--launcher` as clap parses it: `both` is every launcher.
fn parse_launchers(
    s: &str,
) -> Result<Vec<Launcher>, dindcheck::trial::launch::launcher::UnknownLauncher> {
    Launcher::parse_selection(s)
}
