//! The parts of a rule that are written as text (hours, days, dates), parsed once so
//! that `check` and `plan` can never read a rule differently.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{PlanError, Target};
use crate::model::{Days, Window, parse_duration};

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

/// Reads a milestone: an RFC 3339 instant, or a local date-time or date in `zone`.
pub fn parse_moment(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    if let Ok(instant) = Timestamp::from_str(text) {
        return Some(instant);
    }
    let civil = jiff::civil::DateTime::from_str(text)
        .or_else(|_| {
            jiff::civil::Date::from_str(text).map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .ok()?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// A rule's sending window, parsed.
#[derive(Debug, Clone)]
pub struct SendWindow {
    days: [bool; 7],
    minutes: Option<(u32, u32)>,
    zone: TimeZone,
}

impl SendWindow {
    /// Parses a window; its zone is UTC when it names none.
    pub fn new(window: &Window) -> Result<SendWindow, String> {
        let zone = match &window.timezone {
            Some(tz) => {
                TimeZone::get(tz).map_err(|_| format!("`{tz}` is not an IANA time zone"))?
            }
            None => TimeZone::UTC,
        };
        Ok(SendWindow {
            days: window.days.as_ref().map_or(Ok([true; 7]), parse_days)?,
            minutes: window.hours.as_deref().map(parse_hours).transpose()?,
            zone,
        })
    }

    /// Whether `now` is a sending day and hour in `zone` (the person's), else the window's zone.
    pub fn allows(&self, now: Timestamp, zone: Option<TimeZone>) -> bool {
        let local = now.to_zoned(zone.unwrap_or_else(|| self.zone.clone()));
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        self.days[day]
            && self
                .minutes
                .is_none_or(|(start, end)| (start..end).contains(&minute))
    }
}

/// The parts of a rule that are durations and times, parsed once per run: ripgrep's
/// low and high arguments, where the rule as written is checked and this is evaluated.
pub(super) struct RuleParts {
    /// Seconds after the trigger event, and the most seconds after it to still send.
    pub trigger: Option<(i64, Option<i64>)>,
    /// The frequency cap's period in seconds.
    pub cap: Option<i64>,
    /// The reminder's delay in seconds and the most reminders.
    pub reminder: Option<(i64, u32)>,
    /// When messages may go.
    pub window: Option<SendWindow>,
}

impl RuleParts {
    /// Parses the parts of a rule that `check` validated (an error here means the rule was
    /// changed since, or `check` was not run).
    pub fn parse(target: &Target) -> Result<RuleParts, PlanError> {
        let rule = target.rule;
        let invalid = |message: String| PlanError::InvalidRule {
            rule: target.name(),
            message,
        };
        let duration = |text: &str| parse_duration(text).map_err(invalid);
        let trigger = match &rule.trigger {
            None => None,
            Some(t) => Some((
                t.after.as_deref().map_or(Ok(0), duration)?,
                t.within.as_deref().map(duration).transpose()?,
            )),
        };
        let cap = rule
            .cap
            .as_ref()
            .map(|c| duration(&c.once_per))
            .transpose()?;
        let reminder = match &rule.reminder {
            None => None,
            Some(r) => Some((duration(&r.after)?, r.max)),
        };
        let window = rule
            .window
            .as_ref()
            .map(SendWindow::new)
            .transpose()
            .map_err(invalid)?;
        Ok(RuleParts {
            trigger,
            cap,
            reminder,
            window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Days;

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
