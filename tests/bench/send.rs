//! The send benchmark: `canvass send` to a local SMTP sink, against Python's smtplib
//! sending the same messages over one connection, with canvass's peak memory for growing
//! audiences.
//!
//! `cargo bench --bench send` (sizes: `CANVASS_BENCH_SIZES`, default `10000,100000`;
//! `CANVASS_BIN` times another build of the binary).
//! The sink is a few lines of Rust on threads that accept and discard, so that the
//! numbers measure the sender, not the receiver.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The allocator the `canvass` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "YmVuY2htYXJrLWtleS1mb3ItY2FudmFzcy1zZW5kLWJlbmNoLTE=";

fn main() {
    let sizes: Vec<usize> = std::env::var("CANVASS_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let (port, received) = start_sink();
    for (i, size) in sizes.iter().enumerate() {
        let ws = workspace(*size);
        let before = received.load(Ordering::Relaxed);
        let (elapsed, peak_kib) = run_canvass(ws.path(), Some(port));
        let sent = received.load(Ordering::Relaxed) - before;
        assert_eq!(sent, *size, "the sink received every message");
        println!(
            "canvass send: {size} messages in {:.2} s = {:.0} messages/s, peak memory {:.1} MiB",
            elapsed.as_secs_f64(),
            *size as f64 / elapsed.as_secs_f64(),
            peak_kib as f64 / 1024.0
        );
        if i == 0 {
            compare_with_smtplib(*size, port);
        }
    }
}

/// Writes the same messages to an outbox and times smtplib sending them to the sink.
fn compare_with_smtplib(size: usize, port: u16) {
    let ws = workspace(size);
    run_canvass(ws.path(), None);
    let outbox = ws.path().join(".canvass/outbox");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/smtplib_peer.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&outbox)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut parts = text.split_whitespace();
            let count: f64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
            let seconds: f64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1.0);
            println!(
                "python smtplib, one connection: {count} messages in {seconds:.2} s = {:.0} messages/s",
                count / seconds
            );
        }
        _ => println!("python smtplib: skipped (python3 not available)"),
    }
}

/// The binary to time: `CANVASS_BIN` when set (to compare two builds with the same
/// bench), else this build's.
fn canvass_bin() -> std::path::PathBuf {
    std::env::var_os("CANVASS_BIN").map_or_else(|| env!("CARGO_BIN_EXE_canvass").into(), Into::into)
}

/// Runs `canvass send --all --yes`, to the sink or (without a port) to the outbox, and
/// returns the time taken and the peak resident memory in KiB.
fn run_canvass(root: &Path, port: Option<u16>) -> (Duration, u64) {
    let mut command = Command::new(canvass_bin());
    command
        .arg("--workspace")
        .arg(root)
        .args(["send", "--all", "--yes"])
        .env("CANVASS_KEY", KEY)
        .env_remove("CANVASS_SMTP_URL")
        .env_remove("CANVASS_DKIM_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(port) = port {
        command.env(
            "CANVASS_SMTP_URL",
            format!("smtp://127.0.0.1:{port}?tls=none"),
        );
    }
    let start = Instant::now();
    let mut child = command.spawn().expect("the canvass binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "canvass send failed");
            break;
        }
        peak = peak.max(high_water_mark(&status_file));
        std::thread::sleep(Duration::from_millis(10));
    }
    (start.elapsed(), peak)
}

/// `VmHWM` (peak resident set) from /proc, 0 where there is no /proc.
fn high_water_mark(status_file: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A workspace with one survey and one e-mail rule to `size` people.
fn workspace(size: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("canvass.yaml"),
        "name: Bench\nbase_url: https://feedback.example.com\n",
    )
    .unwrap();
    let survey = root.join("surveys/pulse");
    std::fs::create_dir_all(&survey).unwrap();
    std::fs::write(
        survey.join("survey.yaml"),
        "id: pulse\nversion: 1\nlocales: [en]\ntitle: How did we do?\nquestions:\n  - id: score\n    type: nps\n    text: Would you recommend us?\n",
    )
    .unwrap();
    std::fs::write(
        survey.join("distribution.yaml"),
        "rules:\n  - id: all\n    channel: email\n    audience: { file: people.csv, key: email, name: name }\n    email: { from: \"Acme <support@example.com>\", subject: \"{{ name }}, a minute?\" }\n",
    )
    .unwrap();
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(survey.join("people.csv")).unwrap());
    writeln!(csv, "email,name").unwrap();
    for i in 0..size {
        writeln!(csv, "person{i}@example.com,Person {i}").unwrap();
    }
    csv.flush().unwrap();
    dir
}

/// An SMTP sink on 127.0.0.1: accepts every message and discards it, counting.
fn start_sink() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &counter);
            });
        }
    });
    (port, received)
}

fn serve(stream: TcpStream, received: &AtomicUsize) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink ready\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => writer.write_all(b"250-sink\r\n250 8BITMIME\r\n")?,
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n")?;
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::Relaxed);
                writer.write_all(b"250 queued\r\n")?;
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => writer.write_all(b"250 ok\r\n")?,
        }
    }
}
