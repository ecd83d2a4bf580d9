//! Signals: a run that is told to stop (^C, SIGTERM from nextest's timeout) ends every
//! sandbox and outer engine this process started before it exits. No destructor runs on a
//! signal, so the cleanup goes by what the process left on disk: its scratch directories
//! (`<home>/runs/<pid>-<n>`) and its engine slots.

use std::path::PathBuf;

use crate::trial::launch::registry;
use crate::trial::launch::scratch::cleanup_own;

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// From now on, the next SIGINT or SIGTERM removes every sandbox and outer engine of this
/// process, says so on stderr (as `who`), and exits with `code`, or 128 + the signal.
pub fn cleanup_on_signal(home: PathBuf, who: &'static str, code: Option<i32>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // The process's other threads keep going meanwhile and may start one more
            // sandbox: clean up until a pass finds nothing.
            let mut sandboxes = 0;
            for _ in 0..20 {
                let found = cleanup_own(&home);
                if found == 0 && sandboxes > 0 {
                    break;
                }
                sandboxes += found;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let engines = registry::stop_own();
            eprintln!(
                "{who}: signal {sig}: removed {sandboxes} sandbox(es) and {engines} outer engine(s) of this process"
            );
            std::process::exit(code.unwrap_or(128 + sig));
        }
    });
}
