//! Planning who receives what: audiences, windows and the other parts of a rule.
//!
//! This module holds the pieces of a rule that `check` validates and `plan`/`send`
//! evaluate, so that the two can never read a rule differently.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::model::Days;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `09:00-17:00` into minutes after midnight, start inclusive and end exclusive.
pub fn parse_hours(text: &str) -> Result<(u32, u32), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a range of hours"))?;
    let (start, end) = (parse_clock(start)?, parse_clock(end)?);
    if start >= end {
        return Err(format!("the hours `{text}` end before they start"));
    }
    Ok((start, end))
}

fn parse_clock(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not a time of day (HH:MM)"))?;
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if (h < 24 && m < 60) || (h == 24 && m == 0) => Ok(h * 60 + m),
        _ => Err(format!(
            "`{text}` is not a time of day (HH:MM, 00:00 to 24:00)"
        )),
    }
}

/// Parses days of the week into a set indexed Monday = 0.
pub fn parse_days(days: &Days) -> Result<[bool; 7], String> {
    let mut set = [false; 7];
    let items: Vec<&str> = match days {
        Days::Range(text) => text.split(',').collect(),
        Days::List(list) => list.iter().map(String::as_str).collect(),
    };
    for item in items {
        let item = item.trim().to_ascii_lowercase();
        let (from, to) = item.split_once('-').unwrap_or((&item, &item));
        let (from, to) = (day_index(from)?, day_index(to)?);
        let mut day = from;
        loop {
            set[day] = true;
            if day == to {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Ok(set)
}

fn day_index(name: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| *d == name.trim())
        .ok_or_else(|| format!("`{name}` is not a day: use {}", DAY_NAMES.join(", ")))
}

/// Whether an audience file is JSON Lines (by its extension) rather than CSV.
pub fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"))
}

/// The column names of an audience file, reading only its header (CSV) or first record
/// (JSON Lines), so that checking a large audience stays instant.
pub fn audience_header(path: &Path) -> Result<Vec<String>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    if is_jsonl(path) {
        let mut first = String::new();
        BufReader::new(file)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&first)
            .map_err(|e| format!("line 1 is not a JSON object: {e}"))?;
        return Ok(record.keys().cloned().collect());
    }
    let mut reader = csv::Reader::from_reader(file);
    let header = reader.headers().map_err(|e| e.to_string())?;
    Ok(header.iter().map(|h| h.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days() {
        assert_eq!(parse_hours("09:00-17:30"), Ok((540, 1050)));
        assert!(parse_hours("17:00-09:00").is_err());
        assert!(parse_hours("25:00-26:00").is_err());
        let week = parse_days(&Days::Range("mon-fri".into())).unwrap();
        assert_eq!(week, [true, true, true, true, true, false, false]);
        let wrap = parse_days(&Days::Range("sat-mon".into())).unwrap();
        assert_eq!(wrap, [true, false, false, false, false, true, true]);
        assert!(parse_days(&Days::List(vec!["mon".into(), "funday".into()])).is_err());
    }
}
