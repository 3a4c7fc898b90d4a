//! The `canvass` binary: parses the arguments, runs the command, and prints an error with
//! its whole chain of causes once, here.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc: rendering and folding allocate many small, short-lived strings, which it
/// serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_default_sigpipe();
    match cli::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::chain(&error));
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, which turns `canvass … | head` into a panic on the next print;
/// a command-line tool should end quietly instead, as ripgrep and coreutils do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
