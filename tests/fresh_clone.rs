//! A plain `cargo nextest run` in a fresh clone (after `scripts/setup-host`) runs as
//! `scripts/test` does: no network mode is forced on the cases (docs/ci.md, "The tests").

use std::path::Path;

const VARIABLE: &str = "DINDCHECK_RUNSC_NETWORK";

/// Neither `.cargo/config.toml` nor the scripts replace the cases' own network modes: each
/// case runs in its own, and only under a runsc whose sandbox networking cannot start on
/// this host does a `sandbox` case run with `none` (docs/host-facts.md, "Sandbox
/// networking"), which is how the baselines under tests/baselines/ were recorded.
#[test]
fn nothing_forces_a_network_mode_on_the_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap()).unwrap();
    let env = config.get("env").and_then(|e| e.as_table());
    assert!(
        env.is_none_or(|e| !e.contains_key(VARIABLE)),
        ".cargo/config.toml sets {VARIABLE}: {env:?}"
    );
    for script in ["scripts/test", "scripts/run"] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        assert!(
            !text.contains(&format!("{VARIABLE}=\"${{{VARIABLE}-")),
            "{script} gives {VARIABLE} a default"
        );
    }
}
