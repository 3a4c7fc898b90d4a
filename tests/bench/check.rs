//! Times `canvass::check::check_workspace` on a generated workspace of 1,000 surveys in
//! five locales with distribution rules and an audience file (see `gen_workspace.py`),
//! printing the median of several runs. Run with `cargo bench --bench check`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The allocator the `canvass` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SURVEYS: usize = 1000;
const RUNS: usize = 7;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/gen_workspace.py");
    let generated = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .arg(SURVEYS.to_string())
        .status();
    if !generated.is_ok_and(|s| s.success()) {
        eprintln!("note: python3 could not generate the workspace; benchmark skipped");
        return;
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let report = canvass::check::check_workspace(dir.path());
            let elapsed = start.elapsed();
            assert!(
                report.diagnostics.is_empty(),
                "the generated workspace should be clean"
            );
            assert_eq!(report.files, 2 * SURVEYS + 1);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "check_workspace, {SURVEYS} surveys: median {:.3} s (min {:.3} s, max {:.3} s, {RUNS} runs)",
        times[RUNS / 2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[RUNS - 1].as_secs_f64()
    );
}
