//! Benchmark: fold millions of generated answers into summaries, streaming, beside DuckDB
//! computing the same NPS, top-box share and mean per month over the same CSV; then
//! `canvass import` speed into the store and the report's fold reading the store back.
//!
//! `cargo bench --bench report` (rows: `CANVASS_BENCH_ROWS`, default 10 000 000;
//! imported rows: `CANVASS_BENCH_IMPORT_ROWS`, default 1 000 000). DuckDB runs through
//! `duckdb_peer.py` (PyPI `duckdb`); without it, that part is skipped with a note.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use canvass::model::{AnswerValue, Period, Survey};
use canvass::score::{Fold, ResponseView};
use canvass::store::Segments;

mod answers_csv;
use answers_csv::{SURVEY, generate};

/// The allocator the `canvass` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let rows = env_number("CANVASS_BENCH_ROWS", 10_000_000);
    let import_rows = env_number("CANVASS_BENCH_IMPORT_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let workspace = dir.path().join("ws");
    std::fs::create_dir_all(workspace.join("surveys/bench")).unwrap();
    std::fs::write(workspace.join("surveys/bench/survey.yaml"), SURVEY).unwrap();
    let survey: Survey = serde_json::from_value(
        canvass::workspace::Document::parse("survey.yaml", SURVEY)
            .unwrap()
            .json,
    )
    .unwrap();

    let data = dir.path().join("answers.csv");
    generate(&data, rows, false);
    let small = dir.path().join("small.csv");
    generate(&small, rows / 100, false);
    fold_csv(&survey, &small);
    let rss_small = peak_rss_kib();
    let start = Instant::now();
    let summary = fold_csv(&survey, &data);
    let fold_seconds = start.elapsed().as_secs_f64();
    let rss_large = peak_rss_kib();
    let nps = summary.versions[0].metrics[0].score.unwrap_or_default();
    println!(
        "fold: {rows} answers in {fold_seconds:.2} s ({:.0} answers/s); NPS {nps:.3}",
        rows as f64 / fold_seconds
    );
    println!(
        "peak memory: {rss_small} KiB after {} answers, {rss_large} KiB after {rows}",
        rows / 100
    );
    duckdb_peer(&data, fold_seconds);

    let import_file = dir.path().join("import.csv");
    generate(&import_file, import_rows, true);
    let (ws, _) = canvass::workspace::Workspace::load(&workspace);
    let start = Instant::now();
    canvass::import::import_file(&ws, &import_file, "bench", None, false)
        .expect("the import succeeds");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "import: {import_rows} rows in {seconds:.2} s ({:.0} validated rows/s; target 200000)",
        import_rows as f64 / seconds
    );
    let start = Instant::now();
    let summary = canvass::report::summarize(&ws, &survey).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "fold from the store: {} answers in {seconds:.2} s ({:.0} answers/s)",
        summary.versions[0].responses,
        summary.versions[0].responses as f64 / seconds
    );
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Streams the CSV through the report's fold: one thread parses records and decodes
/// them into batches of responses, each answer straight into its question's position
/// (the header is matched to the survey once; batches are recycled, so memory stays
/// flat), the other folds them. DuckDB, in the same run, uses both cores too.
fn fold_csv(survey: &Survey, path: &Path) -> canvass::score::Summary {
    const BATCH: usize = 4096;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<Decoded>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<Decoded>>();
    let mut fold = Fold::new(survey, Period::Month);
    let no_segments = Segments::new();
    let questions = survey.questions.len();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = csv::Reader::from_path(path).unwrap();
            let columns: Vec<Column> = reader
                .headers()
                .unwrap()
                .iter()
                .map(|h| match h {
                    "submitted_at" => Column::SubmittedAt,
                    "locale" => Column::Locale,
                    id => Column::Question(survey.question_index(id).expect("a question")),
                })
                .collect();
            let mut record = csv::ByteRecord::new();
            loop {
                let mut batch = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| (0..BATCH).map(|_| Decoded::new(questions)).collect());
                let mut filled = 0;
                while filled < BATCH && reader.read_byte_record(&mut record).unwrap() {
                    batch[filled].fill(&columns, &record);
                    filled += 1;
                }
                batch.truncate(filled);
                if filled == 0 || full_tx.send(batch).is_err() {
                    return;
                }
            }
        });
        for mut batch in full_rx {
            for decoded in &batch {
                fold.add_view(&ResponseView {
                    version: 1,
                    channel: "import",
                    rule: None,
                    locale: decoded.locale.as_deref(),
                    submitted_at: &decoded.submitted_at,
                    segments: &no_segments,
                    answers: decoded.answers.as_slice(),
                });
            }
            batch.resize_with(BATCH, || Decoded::new(questions));
            let _ = empty_tx.send(batch);
        }
    });
    fold.finish(&BTreeMap::new(), 10)
}

/// What a CSV column holds.
enum Column {
    SubmittedAt,
    Locale,
    /// The answer to the question at this position.
    Question(usize),
}

/// One record decoded for the fold.
struct Decoded {
    submitted_at: String,
    locale: Option<String>,
    answers: Vec<Option<AnswerValue>>,
}

impl Decoded {
    fn new(questions: usize) -> Decoded {
        Decoded {
            submitted_at: String::new(),
            locale: None,
            answers: vec![None; questions],
        }
    }

    /// Overwrites the reused buffers with one record's time, locale and answers.
    fn fill(&mut self, columns: &[Column], record: &csv::ByteRecord) {
        for (column, cell) in columns.iter().zip(record) {
            match column {
                Column::SubmittedAt => {
                    self.submitted_at.clear();
                    self.submitted_at
                        .push_str(std::str::from_utf8(cell).unwrap());
                }
                Column::Locale => {
                    let locale = std::str::from_utf8(cell).unwrap();
                    match &mut self.locale {
                        Some(current) if current == locale => {}
                        slot => *slot = Some(locale.to_string()),
                    }
                }
                Column::Question(i) => {
                    self.answers[*i] = parse_digits(cell).map(AnswerValue::Number)
                }
            }
        }
    }
}

/// A cell of ASCII digits as a number (the generator writes no other numbers).
fn parse_digits(cell: &[u8]) -> Option<i64> {
    if cell.is_empty() || !cell.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(cell.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn duckdb_peer(data: &Path, fold_seconds: f64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/duckdb_peer.py");
    let output = Command::new("python3").arg(script).arg(data).output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{text}");
            let seconds: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("duckdb seconds: "))
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(f64::NAN);
            println!(
                "canvass / duckdb: {:.2}× (target ≤ 2×)",
                fold_seconds / seconds
            );
        }
        Ok(out) => println!(
            "note: DuckDB peer skipped: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("note: DuckDB peer skipped (python3: {e})"),
    }
}
