//! The parts of a rule that are written as text (hours, days, dates), parsed once so
//! that `check` and `plan` can never read a rule differently.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{PlanError, Target};
use crate::model::{PartError, Window, parse_days, parse_duration, parse_hours};

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
    pub fn new(window: &Window) -> Result<SendWindow, PartError> {
        let zone = match &window.timezone {
            Some(tz) => TimeZone::get(tz).map_err(|_| PartError::NotTimeZone(tz.clone()))?,
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
        let invalid = |error: PartError| PlanError::InvalidRule {
            rule: target.name(),
            message: error.to_string(),
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
