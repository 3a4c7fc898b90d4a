//! Benchmark: personalised e-mails (full MIME) for many recipients, against Python's
//! Jinja2 plus `email.message` rendering the same templates for the same recipients.
//!
//! `cargo bench --bench render` (or `tests/bench/render.sh`); `RENDER_BENCH_N` sets the
//! number of recipients (default 100,000) and `RENDER_BENCH_PYTHON_N` how many of them
//! Python renders (default a tenth: its rate per message is what is compared).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use canvass::render::{Delivery, EmailContext, Recipient, Renderer};
use canvass::token::{Claims, Key};
use canvass::workspace::Workspace;

/// The allocator the `canvass` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BASE_URL: &str = "https://feedback.acme.example";

/// This thread's CPU time in seconds (Linux `/proc/thread-self/schedstat`), so that the
/// rate is per core even on a busy machine.
fn cpu_time() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}

fn main() {
    let n: usize = std::env::var("RENDER_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ws, _) = Workspace::load(&root.join("examples/acme"));
    let entry = ws.survey("nps").expect("the example has an nps survey");
    let survey = &entry.survey.as_ref().expect("it loads").value;
    let rule = &entry
        .distribution
        .as_ref()
        .expect("it has rules")
        .value
        .rules[0];
    let key = Key::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("valid");
    let recipients: Vec<(Recipient, String)> = (0..n)
        .map(|i| {
            let recipient = Recipient {
                address: format!("person{i}@example.com"),
                name: Some(format!("Person {i}")),
                values: Default::default(),
            };
            let token = key.sign(&Claims {
                survey: survey.id.clone(),
                version: survey.version,
                rule: rule.id.clone(),
                recipient: key.recipient(&recipient.address),
                delivery: format!("d{i}"),
                expires: 1_900_000_000,
                kind: canvass::token::TokenKind::Delivery,
            });
            (recipient, token)
        })
        .collect();

    let renderer = Renderer::builtin();
    let batch = renderer.email_batch(survey, "en");
    let view = &batch.view;
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let started = Instant::now();
    let cpu_started = cpu_time();
    let mut bytes = 0usize;
    for (i, (recipient, token)) in recipients.iter().enumerate() {
        let context = EmailContext {
            delivery: Delivery {
                survey,
                rule: Some(rule),
                locale: "en",
                recipient,
                base_url: BASE_URL,
                token,
            },
            unsubscribe_mailto: Some("unsubscribe@acme.example"),
            message_id: Some(format!("<d{i}@acme.example>")),
            date,
        };
        let message = renderer
            .email_in(&context, &batch)
            .expect("the message renders");
        bytes += message.formatted().len();
    }
    let rust_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_time().zip(cpu_started).map(|(end, start)| end - start);
    let rust_rate = n as f64 / cpu_seconds.unwrap_or(rust_seconds);
    println!(
        "canvass (minijinja + lettre): {n} messages in {rust_seconds:.2} s wall, {} CPU = {rust_rate:.0} messages/s per core, {:.1} KiB each",
        cpu_seconds.map_or("unknown".to_string(), |c| format!("{c:.2} s")),
        bytes as f64 / n as f64 / 1024.0
    );

    // Python is slow enough that a tenth of the recipients measures its rate well.
    let python_n: usize = std::env::var("RENDER_BENCH_PYTHON_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n / 10)
        .max(1);
    let data = tempfile::NamedTempFile::new().expect("a temporary file");
    let question = view
        .question(&survey.questions[0].id)
        .expect("the first question");
    let input = serde_json::json!({
        "s": view,
        "q": question,
        "subject": rule.email.as_ref().map(|e| e.subject.get("en", "en")),
        "from": rule.email.as_ref().map(|e| e.from.as_str()),
        "reply_to": rule.email.as_ref().and_then(|e| e.reply_to.as_deref()),
        "base_url": BASE_URL,
        "recipients": recipients
            .iter()
            .take(python_n)
            .map(|(r, t)| (&r.address, &r.name, t))
            .collect::<Vec<_>>(),
    });
    serde_json::to_writer(data.as_file(), &input).expect("written");
    let output = Command::new("python3")
        .arg(root.join("tests/bench/render_vs_jinja2.py"))
        .arg(root.join("src/render/templates"))
        .arg(data.path())
        .output();
    let python_rate = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<f64>()
            .ok(),
        Ok(out) => {
            eprintln!(
                "the Python side failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("python3 is not available: {e}");
            None
        }
    };
    if let Some(python_rate) = python_rate {
        println!(
            "Python (Jinja2 + email.message): {python_rate:.0} messages/s per core; canvass is {:.1}x faster",
            rust_rate / python_rate
        );
    }
    let fast = rust_rate >= 50_000.0;
    let ratio = python_rate.is_none_or(|p| rust_rate >= 10.0 * p);
    println!(
        "targets: >= 50,000 messages/s {}; >= 10x Python {}",
        if fast { "met" } else { "NOT met" },
        if ratio { "met" } else { "NOT met" }
    );
}
