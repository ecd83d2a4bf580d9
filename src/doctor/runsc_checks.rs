//! The checks of one runsc binary: its version and flags, whether a trivial sandbox starts
//! and on which platforms, sandbox networking, gVisor's cgroupfs, and `--host-uds=all`. Each
//! sandbox is a [`Probe`] under a hard timeout, at most `Ctx::sandboxes` at once.

use std::path::Path;
use std::time::{Duration, Instant};

use super::check::{Check, Topic};
use super::checks::{Ctx, PROBE_TIMEOUT, run_command, runsc_subject, timed};
use super::facts::{self, Release, RunscFlags};
use super::probe::{Ending, Probe, ProbeRun};
use crate::inventory::RunscBinary;
use crate::trial::launch::IO_DIR_IN_SANDBOX;

/// The binary exists, runs, and says which release it is.
pub async fn runsc_version(bin: &RunscBinary) -> (Check, Option<Release>) {
    let started = Instant::now();
    let c = Check::new(&runsc_subject(bin), Topic::RunscVersion, "version");
    if !bin.path.is_file() {
        return (
            timed(
                c.fail(
                    format!("{} is missing", bin.path.display()),
                    "rerun `scripts/setup-host`",
                ),
                started,
            ),
            None,
        );
    }
    let (c, release) = match run_command(&bin.path, &["--version"]).await {
        Err(e) => (
            c.fail(e.clone(), "rerun `scripts/setup-host`")
                .evidence([e]),
            None,
        ),
        Ok(r) => {
            let first = r.stdout.lines().next().unwrap_or_default().to_string();
            let release = facts::parse_release(&r.stdout);
            let ev = [format!("$ {}", r.line), first.clone()];
            let c = match release {
                Some(rel) if rel.to_string() == bin.release => {
                    c.ok(format!("{first} at {}", bin.path.display()))
                }
                Some(rel) => c.warn(
                    format!("{first}: release {rel}, the inventory says {}", bin.release),
                    "rerun `scripts/setup-host` to refresh the inventory",
                ),
                None => c.warn(
                    format!("{first}: no release date in it"),
                    "the network check cannot predict runsc's behaviour; it still tries",
                ),
            };
            (c.evidence(ev), release)
        }
    };
    (timed(c, started), release)
}

/// Which flags the binary knows: the harness's own, and the ones recipes depend on.
pub async fn runsc_flags(bin: &RunscBinary) -> (Check, Option<RunscFlags>) {
    let started = Instant::now();
    let c = Check::new(&runsc_subject(bin), Topic::RunscFlags, "flags");
    let ran = match run_command(&bin.path, &["flags"]).await {
        Err(e) => {
            return (
                timed(
                    c.fail(e.clone(), "rerun `scripts/setup-host`")
                        .evidence([e]),
                    started,
                ),
                None,
            );
        }
        Ok(r) => r,
    };
    // Go's flag package prints usage on stderr; some builds print it on stdout.
    let flags = RunscFlags::parse(&format!("{}{}", ran.stdout, ran.stderr));
    let missing = flags.missing_required();
    let (platforms, default) = flags.platforms();
    let net_raw = if flags.knows("net-raw") {
        "--net-raw"
    } else {
        "no --net-raw"
    };
    let packet = match flags.packet_write_flag() {
        Some(f) if f == facts::PACKET_WRITE_FLAGS[0] => format!("--{f}"),
        Some(f) => format!("--{f} (not --{})", facts::PACKET_WRITE_FLAGS[0]),
        None => "no packet-socket write flag".into(),
    };
    let summary = format!(
        "{} flags; {net_raw}; {packet}; platforms {} (default {})",
        flags.usage.len(),
        platforms.join(", "),
        default.as_deref().unwrap_or("?")
    );
    let mut evidence = vec![
        format!("$ {}", ran.line),
        format!("{} flags listed", flags.usage.len()),
    ];
    for f in ["net-raw", "host-uds", "overlay2", "platform"]
        .into_iter()
        .chain(facts::PACKET_WRITE_FLAGS)
    {
        evidence.push(match flags.usage.get(f) {
            Some(u) => format!("-{f}: {}", facts::shorten(u, 100)),
            None => format!("-{f}: unknown to this binary"),
        });
    }
    let c = if flags.usage.is_empty() {
        c.fail(
            "`runsc flags` listed nothing",
            "rerun `scripts/setup-host`; check the binary by hand",
        )
    } else if !missing.is_empty() {
        c.fail(
            format!("lacks flags the harness passes: --{}", missing.join(", --")),
            "use a newer runsc",
        )
    } else {
        c.ok(summary)
    };
    (timed(c.evidence(evidence), started), Some(flags))
}

fn no_rootfs(c: Check) -> Check {
    c.fail(
        "no root filesystem to start a sandbox on",
        "rerun `scripts/setup-host`",
    )
}

/// A trivial sandbox starts with the default platform and no networking.
pub async fn sandbox_starts(ctx: &Ctx, bin: &RunscBinary, default: Option<&str>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::SandboxStarts, "trivial sandbox");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let run = Probe::new(&bin.path, rootfs, "start", "true")
        .run(&ctx.home)
        .await;
    let platform = default.unwrap_or("default platform");
    let c = if run.started() {
        c.ok(format!(
            "starts ({platform}, --network=none) in {:.2} s",
            run.elapsed.as_secs_f64()
        ))
    } else if run.ending == Ending::Hung {
        c.fail(
            format!("hangs ({platform}): {}", run.reason()),
            "rerun the command in the evidence by hand and read its --debug-log",
        )
    } else {
        c.fail(
            format!("does not start: {}", run.reason()),
            "rerun the command in the evidence by hand and read its --debug-log",
        )
    };
    timed(c.evidence(run.evidence()), started)
}

/// One platform: starts, fails, or hangs (within [`Ctx::platform_timeout`]).
pub async fn platform(
    ctx: &Ctx,
    bin: &RunscBinary,
    platform: &str,
    flags: Option<&RunscFlags>,
) -> Check {
    let subject = runsc_subject(bin);
    let c = Check::new(
        &subject,
        Topic::Platform(platform.to_string()),
        &format!("platform {platform}"),
    );
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let known: Vec<String> = flags.map(|f| f.platforms().0).unwrap_or_default();
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let mut probe = Probe::new(&bin.path, rootfs, &format!("platform {platform}"), "true");
    probe.flags.platform = Some(platform.to_string());
    probe.timeout = ctx.platform_timeout;
    let run = probe.run(&ctx.home).await;
    let others: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|p| *p != platform && *p != "kvm")
        .collect();
    let elsewhere = if others.is_empty() {
        "use another platform".to_string()
    } else {
        format!(
            "use {} (`--runtime {subject}@{}`)",
            others.join(" or "),
            others[0]
        )
    };
    let c = if run.started() {
        c.ok(format!("starts in {:.2} s", run.elapsed.as_secs_f64()))
    } else if run.ending == Ending::Hung {
        let why = if platform == "kvm" {
            format!("kvm needs working (nested) virtualisation; {elsewhere}")
        } else {
            elsewhere
        };
        c.fail(
            format!(
                "hangs: no start within {} s (killed and deleted)",
                ctx.platform_timeout.as_secs()
            ),
            why,
        )
    } else if run.reason().contains("unknown platform")
        || (!known.is_empty() && !known.iter().any(|k| k == platform))
    {
        c.warn(
            format!("not in this release: {}", run.reason()),
            format!(
                "this runsc has {}; {elsewhere}",
                if known.is_empty() {
                    "other platforms".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    } else {
        c.fail(format!("fails: {}", run.reason()), elsewhere)
    };
    timed(c.evidence(run.evidence()), started)
}

/// Sandbox networking (`--network=sandbox`): predicted from the versions, then tried.
pub async fn network(ctx: &Ctx, bin: &RunscBinary, release: Option<Release>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::Network, "sandbox networking");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let prediction = facts::predicts_netns_misdetection(release, ctx.kernel);
    let mut evidence = vec![format!(
        "prediction: runsc {} on kernel {} {}",
        release.map_or("(release unknown)".into(), |r| r.to_string()),
        ctx.kernel_release,
        match prediction {
            Some(true) => format!(
                "misdetects the root network namespace (runsc before {} on Linux {} or later)",
                facts::NETNS_FIX_RELEASE,
                facts::PER_NETNS_RMEM_KERNEL
            ),
            Some(false) => "should not misdetect the root network namespace".into(),
            None => "cannot be predicted".into(),
        }
    )];
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let mut probe = Probe::new(&bin.path, rootfs, "network", "cat /proc/net/dev");
    probe.flags.network = crate::case::RunscNetwork::Sandbox;
    probe.timeout = PROBE_TIMEOUT;
    let run = probe.run(&ctx.home).await;
    evidence.extend(run.evidence());
    let none = "dindcheck runs this runsc's `sandbox` cases with `--network=none` by itself \
                (the report says so); for sandbox networking";
    let reason = run.reason();
    let c = if run.started() {
        let note = if prediction == Some(true) {
            " (although the versions predicted the misdetection)"
        } else {
            ""
        };
        c.ok(format!("usable: --network=sandbox starts{note}"))
    } else if reason.contains(facts::ROOT_NETNS_MESSAGE) && prediction == Some(true) {
        c.fail(
            format!(
                "unavailable: runsc {} (before {}) misdetects the root network namespace on \
                 kernel {} (6.11 or later); confirmed: \"{}\"",
                release.map_or("?".into(), |r| r.to_string()),
                facts::NETNS_FIX_RELEASE,
                ctx.kernel.map_or("?".into(), |k| k.to_string()),
                facts::ROOT_NETNS_MESSAGE
            ),
            format!("{none}, use runsc {} or later", facts::NETNS_FIX_RELEASE),
        )
    } else if reason.contains(facts::ROOT_NETNS_MESSAGE) {
        c.fail(
            format!("unavailable: runsc believes it runs in the root network namespace: {reason}"),
            format!("{none}, run dindcheck in its own network namespace"),
        )
    } else {
        c.fail(
            format!("unavailable: {reason}"),
            format!("{none}, see the evidence (`--verbose`)"),
        )
    };
    timed(c.evidence(evidence), started)
}

/// gVisor's cgroupfs: what `/sys/fs/cgroup` holds with a `cgroup` mount in the spec (as
/// Docker's specs have), and without one, which controllers can be mounted by hand (the
/// recipe of gVisor's older Docker tutorial).
pub async fn cgroups(ctx: &Ctx, bin: &RunscBinary) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::Cgroups, "gVisor cgroupfs");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let listing = format!("echo {} /sys/fs/cgroup/*", facts::CGROUP_LISTING_MARKER);
    let mut with = Probe::new(&bin.path, rootfs, "cgroups with mount", &listing);
    with.cgroup_mount = true;
    with.timeout = PROBE_TIMEOUT;
    let with = with.run(&ctx.home).await;
    // `mkdir` without `-p`: `mkdir -p` stats the path first, and stat fails with EINVAL
    // under runsc 20221219.
    let by_hand = format!(
        "{listing}\nmount -t tmpfs dindcheck-cgroups /sys/fs/cgroup || exit 0\n\
         for c in {}; do mkdir /sys/fs/cgroup/$c && \
         if mount -t cgroup -o $c $c /sys/fs/cgroup/$c 2>/dev/null; then echo {} $c; \
         else echo {} $c; fi; done; true",
        facts::V1_CONTROLLERS.join(" "),
        facts::CGROUP_MOUNTABLE_MARKER,
        facts::CGROUP_REFUSED_MARKER,
    );
    let mut without = Probe::new(&bin.path, rootfs, "cgroups by hand", &by_hand);
    without.timeout = PROBE_TIMEOUT;
    let without = without.run(&ctx.home).await;

    let mut evidence = vec!["with a cgroup mount at /sys/fs/cgroup in the spec:".to_string()];
    evidence.extend(with.evidence());
    evidence.push("without it, then mounting each controller by hand:".into());
    evidence.extend(without.evidence());

    let list = |r: &ProbeRun| facts::parse_cgroup_listing(&r.output);
    let (Some(seen), Some(bare)) = (list(&with), list(&without)) else {
        let failed = if list(&with).is_none() {
            &with
        } else {
            &without
        };
        return timed(
            c.fail(
                format!("could not look: {}", failed.reason()),
                "see the trivial-sandbox check",
            )
            .evidence(evidence),
            started,
        );
    };
    let mountable = facts::parse_mountable(&without.output);
    let show = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.join(" ")
        }
    };
    let summary = format!(
        "with a cgroup mount: {}; without: {}, mountable by hand: {}",
        show(&seen),
        show(&bare),
        show(&mountable)
    );
    let devices = |v: &[String]| v.iter().any(|c| c == "devices");
    let c = if devices(&seen) {
        c.ok(format!("devices present; {summary}"))
    } else if devices(&mountable) {
        c.warn(
            format!("devices only by hand; {summary}"),
            "mount the devices controller in a setup step (gVisor's older tutorial recipe)",
        )
    } else {
        c.fail(
            format!("no devices controller; {summary}"),
            "dockerd stops with \"Devices cgroup isn't mounted\" under this runsc: use a newer release",
        )
    };
    timed(c.evidence(evidence), started)
}

/// `--host-uds=all`: a unix socket created inside the sandbox, in a bind-mounted directory,
/// answers a client on the host. The harness reaches every nested dockerd this way.
pub async fn host_uds(ctx: &Ctx, bin: &RunscBinary, flags: Option<&RunscFlags>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::HostUds, "--host-uds=all");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    if flags.is_some_and(|f| !f.knows("host-uds")) {
        return c.fail(
            "this runsc has no --host-uds: the harness cannot reach dockerd's socket",
            "use a newer runsc",
        );
    }
    // The root filesystems are Debian's: perl-base is always there, nc with unix sockets
    // is not.
    if !rootfs.join("usr/bin/perl").exists() {
        return c.warn(
            format!("cannot test: no perl in {}", rootfs.display()),
            "the trials will show whether dockerd's socket is reachable",
        );
    }
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let socket_inside = format!("{IO_DIR_IN_SANDBOX}/doctor.sock");
    let script = format!(
        "perl -MIO::Socket::UNIX -e 'my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), \
         Local => \"{socket_inside}\", Listen => 1) or die \"listen: $!\\n\"; \
         my $c = $s->accept or die \"accept: $!\\n\"; print $c \"{GREETING}\\n\"; close $c; \
         print \"answered the host\\n\";'"
    );
    let mut probe = Probe::new(&bin.path, rootfs, "host-uds", &script);
    probe.flags.host_uds = true;
    probe.timeout = PROBE_TIMEOUT;
    let launched = match probe.launch(&ctx.home).await {
        Ok(l) => l,
        Err(run) => {
            return timed(
                c.fail(
                    format!("could not launch: {}", run.reason()),
                    "see the evidence",
                )
                .evidence(run.evidence()),
                started,
            );
        }
    };
    let socket = launched.io().join("doctor.sock");
    let answer = tokio::time::timeout(launched.remaining(), read_greeting(&socket)).await;
    let run = launched.finish().await;
    let mut evidence = run.evidence();
    let c = match answer {
        Ok(Ok(line)) => {
            evidence.push(format!(
                "host: connected to {}, read \"{line}\"",
                socket.display()
            ));
            c.ok("a socket created inside the sandbox answers on the host")
        }
        Ok(Err(e)) => {
            evidence.push(format!("host: {e}"));
            c.fail(
                format!("the sandbox's socket does not answer on the host: {e}"),
                "the harness cannot reach dockerd: use a runsc whose --host-uds=all works",
            )
        }
        Err(_) if !run.started() => c.fail(
            format!("the sandbox did not start: {}", run.reason()),
            "see the trivial-sandbox check",
        ),
        Err(_) => {
            evidence.push(format!("host: no socket at {} in time", socket.display()));
            c.fail(
                "no socket appeared on the host",
                "the harness cannot reach dockerd: use a runsc whose --host-uds=all works",
            )
        }
    };
    timed(c.evidence(evidence), started)
}

const GREETING: &str = "hello from the sandbox";

/// Waits for `socket` to answer, connects, and reads one line. The file appears at `bind`,
/// a moment before the sandbox's `listen`: a refused connection is retried.
async fn read_greeting(socket: &Path) -> Result<String, String> {
    use tokio::io::AsyncBufReadExt;
    loop {
        if socket.exists() {
            let stream = match tokio::net::UnixStream::connect(socket).await {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(format!("connect to {}: {e}", socket.display())),
            };
            let mut line = String::new();
            tokio::io::BufReader::new(stream)
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read from {}: {e}", socket.display()))?;
            return Ok(line.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
