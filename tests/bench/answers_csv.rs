//! The survey and answers the report and PostgreSQL benchmarks import and fold, generated
//! the same on every run.

use std::io::Write as _;
use std::path::Path;

/// The survey the generated answers answer: an NPS question and a 1–5 rating.
pub const SURVEY: &str = "id: bench
version: 1
locales: [en, de]
title: Bench
questions:
  - { id: rec, type: nps, text: Recommend?, required: true }
  - { id: sat, type: rating, text: Satisfied?, scale: { min: 1, max: 5 } }
metrics:
  - { id: nps, kind: nps, question: rec }
  - { id: csat, kind: top_box, question: sat, values: [4, 5] }
  - { id: sat_mean, kind: mean, question: sat }
";

/// Deterministic answers over 24 months, in time order: a linear congruential generator
/// (the same answers on every run), NPS skewed towards promoters, CSAT 1–5, one answer in
/// ten without a CSAT answer.
pub fn generate(path: &Path, rows: usize, with_respondent: bool) {
    let file = std::fs::File::create(path).unwrap();
    let mut out = std::io::BufWriter::new(file);
    let header = if with_respondent { "respondent," } else { "" };
    writeln!(out, "{header}submitted_at,rec,sat,locale").unwrap();
    let start = 1_735_689_600_i64; // 2025-01-01T00:00:00Z
    let span = 730 * 86_400_i64;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |modulus: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % modulus
    };
    for i in 0..rows {
        let second = start + span * i as i64 / rows.max(1) as i64;
        let at = jiff::Timestamp::from_second(second).unwrap();
        let rec = [10, 10, 9, 9, 9, 8, 8, 7, 6, 5, 3, 0][next(12) as usize];
        let sat = match next(10) {
            0 => String::new(),
            n => (1 + n.min(9) / 2).to_string(),
        };
        let locale = if next(3) == 0 { "de" } else { "en" };
        if with_respondent {
            write!(out, "p{i}@example.com,").unwrap();
        }
        writeln!(out, "{at},{rec},{sat},{locale}").unwrap();
    }
    out.flush().unwrap();
}
