//! A plain `cargo nextest run` in a fresh clone (after `scripts/setup-host`) runs with the
//! defaults `scripts/test` sets: the `[env]` of `.cargo/config.toml` (docs/ci.md, "The tests").

use std::path::Path;

const VARIABLE: &str = "DINDCHECK_RUNSC_NETWORK";

/// `.cargo/config.toml`'s default for `DINDCHECK_RUNSC_NETWORK`, which must be the scripts'
/// (the baselines under tests/baselines/ were recorded with it), and must not override a
/// value the user set (an empty one runs each case in its own mode).
#[test]
fn cargo_sets_the_network_default_of_the_scripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap()).unwrap();
    let value = &config["env"][VARIABLE];
    assert_eq!(value.as_str(), Some("none"), "{value:?}");
    let script = std::fs::read_to_string(root.join("scripts/test")).unwrap();
    assert!(
        script.contains(&format!("{VARIABLE}=\"${{{VARIABLE}-none}}\"")),
        "scripts/test's default differs from .cargo/config.toml's"
    );
    // Cargo (and nextest, which reads the same configuration) gave this process the
    // variable: set by the `[env]` table unless it was set already.
    assert!(
        std::env::var_os(VARIABLE).is_some(),
        "{VARIABLE} is not set: the [env] of .cargo/config.toml was not applied"
    );
}
