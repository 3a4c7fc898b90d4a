//! Folding answers into score summaries: one pass over the responses that count, in
//! constant memory per group (survey version, period, segment cell), then the scores with
//! their intervals, the trend with significance tests, and segments with small-cell
//! suppression.
//!
//! Scores are in the units people read: NPS in points (−100…100), top-box and weighted
//! scores in percent, means on the question's scale. A score nobody answered is `None`,
//! never 0; an interval that cannot be computed (one answer, no spread) is `None`.

pub mod stats;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::answer::Answers;
use crate::model::{AnswerValue, MetricKind, Period, Question, QuestionType, Survey};
use crate::store::{Segments, StoredResponse};
use stats::{Interval, Test};

/// A metric resolved against its survey, ready to fold answers.
#[derive(Debug, Clone)]
struct MetricSpec {
    id: String,
    kind: MetricKind,
    title: Option<String>,
    question: Option<String>,
    /// The question's position in the survey: where its answer is in [`AnswerSlots`].
    slot: Option<usize>,
    top_box: Vec<AnswerValue>,
    items: Vec<Item>,
    /// The scale of a mean's question, which bounds its interval.
    scale: Option<(f64, f64)>,
}

/// A weighted scorecard's item.
#[derive(Debug, Clone)]
struct Item {
    question: String,
    /// The question as asked, in the survey's default locale.
    text: String,
    slot: usize,
    weight: f64,
    /// The scale's ends; `None` for yes/no.
    range: Option<(i64, i64)>,
}

impl MetricSpec {
    fn resolve(survey: &Survey) -> Vec<MetricSpec> {
        let locale = survey.default_locale();
        survey
            .metrics
            .iter()
            .map(|m| {
                let question = m.question.as_deref().and_then(|q| survey.question(q));
                (m, question)
            })
            .map(|(m, question)| MetricSpec {
                id: m.id.clone(),
                kind: m.kind,
                title: Some(m.title.as_ref().map_or_else(
                    || default_title(m, question, locale),
                    |t| t.get(locale, locale).to_string(),
                )),
                question: m.question.clone(),
                slot: m.question.as_deref().and_then(|q| survey.question_index(q)),
                scale: question
                    .and_then(|q| q.range())
                    .map(|(lo, hi)| (lo as f64, hi as f64)),
                top_box: m.values.clone(),
                items: m
                    .questions
                    .iter()
                    .filter_map(|id| {
                        let slot = survey.question_index(id)?;
                        Some((slot, &survey.questions[slot]))
                    })
                    .map(|(slot, q)| Item {
                        question: q.id.clone(),
                        text: q.text.get(locale, locale).to_string(),
                        slot,
                        weight: q.weight(),
                        range: q.range(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn method(&self) -> Method {
        match self.kind {
            MetricKind::Nps => Method::NpsWaldClipped,
            MetricKind::TopBox => Method::TopBoxWilson,
            MetricKind::Mean => Method::MeanTClipped,
            MetricKind::Weighted => Method::WeightedShareTClipped,
        }
    }

    fn answer<'s>(&self, slots: &'s (impl AnswerSlots + ?Sized)) -> Option<&'s AnswerValue> {
        slots.answer(self.slot?)
    }
}

/// A response's answers by question position (the survey's order), so that metrics and
/// histograms do not each look their question up by name.
pub trait AnswerSlots {
    /// The answer to the question at `slot`, if it was answered.
    fn answer(&self, slot: usize) -> Option<&AnswerValue>;
}

/// Answers decoded straight into their questions' positions (a CSV reader that matched
/// its header to the questions once).
impl AnswerSlots for [Option<AnswerValue>] {
    fn answer(&self, slot: usize) -> Option<&AnswerValue> {
        self.get(slot)?.as_ref()
    }
}

/// A stored response's answers, put in position in one pass over them.
struct Slots<'a>(Vec<Option<&'a AnswerValue>>);

impl AnswerSlots for Slots<'_> {
    fn answer(&self, slot: usize) -> Option<&AnswerValue> {
        self.0.get(slot).copied().flatten()
    }
}

impl<'a> Slots<'a> {
    fn new(questions: &[Question], answers: &'a Answers) -> Slots<'a> {
        let mut slots = vec![None; questions.len()];
        for (question, value) in answers {
            if let Some(i) = questions.iter().position(|q| q.id == *question) {
                slots[i] = Some(value);
            }
        }
        Slots(slots)
    }
}

/// One response as the fold reads it: what [`StoredResponse`] holds, borrowed, with the
/// answers by position.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a, A: AnswerSlots + ?Sized> {
    /// The survey version answered.
    pub version: u32,
    /// The channel.
    pub channel: &'a str,
    /// The rule, if any.
    pub rule: Option<&'a str>,
    /// The locale, if known.
    pub locale: Option<&'a str>,
    /// RFC 3339, UTC.
    pub submitted_at: &'a str,
    /// The segment values.
    pub segments: &'a Segments,
    /// The answers by question position.
    pub answers: &'a A,
}

/// Running mean and variance (Welford), exact for all-equal answers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Answers seen.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The sample variance (n − 1), `None` below two values.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| (self.m2 / (self.n - 1) as f64).max(0.0))
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    fn welch(&self) -> (f64, f64, u64) {
        (self.mean, self.variance().unwrap_or(0.0), self.n)
    }
}

/// The three groups of NPS answers: the one definition of where 0–10 is cut (0–6, 7–8,
/// 9–10), for the score and for the colours of every chart of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpsGroup {
    /// 0–6.
    Detractor,
    /// 7–8.
    Passive,
    /// 9–10.
    Promoter,
}

impl NpsGroup {
    /// The group of an answer on the 0–10 scale.
    pub fn of(score: i64) -> NpsGroup {
        match score {
            9.. => NpsGroup::Promoter,
            7..=8 => NpsGroup::Passive,
            _ => NpsGroup::Detractor,
        }
    }
}

/// One metric's running state.
#[derive(Debug, Clone, PartialEq)]
enum Accumulator {
    Nps {
        promoters: u64,
        passives: u64,
        detractors: u64,
    },
    TopBox {
        hits: u64,
        n: u64,
    },
    /// A mean, with its question's scale so that its interval stays on the scale.
    Mean(Moments, Option<(f64, f64)>),
    Weighted {
        overall: Moments,
        items: Vec<Moments>,
    },
}

impl Accumulator {
    fn new(spec: &MetricSpec) -> Accumulator {
        match spec.kind {
            MetricKind::Nps => Accumulator::Nps {
                promoters: 0,
                passives: 0,
                detractors: 0,
            },
            MetricKind::TopBox => Accumulator::TopBox { hits: 0, n: 0 },
            MetricKind::Mean => Accumulator::Mean(Moments::default(), spec.scale),
            MetricKind::Weighted => Accumulator::Weighted {
                overall: Moments::default(),
                items: vec![Moments::default(); spec.items.len()],
            },
        }
    }

    fn add(&mut self, observation: Observation, item_shares: &[Option<f64>]) {
        match (self, observation) {
            (
                Accumulator::Nps {
                    promoters,
                    passives,
                    detractors,
                },
                Observation::Score(score),
            ) => match NpsGroup::of(score) {
                NpsGroup::Promoter => *promoters += 1,
                NpsGroup::Passive => *passives += 1,
                NpsGroup::Detractor => *detractors += 1,
            },
            (Accumulator::TopBox { hits, n }, Observation::Hit(hit)) => {
                *n += 1;
                *hits += u64::from(hit);
            }
            (Accumulator::Mean(moments, _), Observation::Score(x)) => moments.add(x as f64),
            (Accumulator::Weighted { overall, items }, Observation::Share(share)) => {
                overall.add(share);
                for (moments, item) in items.iter_mut().zip(item_shares) {
                    if let Some(item) = item {
                        moments.add(*item);
                    }
                }
            }
            _ => {}
        }
    }

    fn n(&self) -> u64 {
        match self {
            Accumulator::Nps {
                promoters,
                passives,
                detractors,
            } => promoters + passives + detractors,
            Accumulator::TopBox { n, .. } => *n,
            Accumulator::Mean(m, _) | Accumulator::Weighted { overall: m, .. } => m.n,
        }
    }

    /// The score, its interval and (for NPS) its standard error, in display units.
    fn estimate(&self) -> (Option<f64>, Option<Interval>, Option<f64>) {
        match self {
            Accumulator::Nps { .. } => {
                let Some((p, _, d)) = self.nps_shares() else {
                    return (None, None, None);
                };
                let score = 100.0 * (p - d);
                let se = stats::nps_standard_error(p, d, self.n()).map(|se| 100.0 * se);
                let interval = se.map(|se| stats::wald(score, se, -100.0, 100.0));
                (Some(score), interval, se)
            }
            Accumulator::TopBox { hits, n } => {
                let share = (*n > 0).then(|| 100.0 * *hits as f64 / *n as f64);
                let interval = stats::wilson(*hits, *n).map(|i| Interval {
                    low: 100.0 * i.low,
                    high: 100.0 * i.high,
                });
                (share, interval, None)
            }
            Accumulator::Mean(m, scale) => (m.mean(), mean_interval(m, 1.0, *scale), None),
            Accumulator::Weighted { overall, .. } => (
                overall.mean().map(|x| 100.0 * x),
                mean_interval(overall, 100.0, Some((0.0, 100.0))),
                None,
            ),
        }
    }

    fn nps_shares(&self) -> Option<(f64, f64, f64)> {
        let Accumulator::Nps {
            promoters,
            passives,
            detractors,
        } = self
        else {
            return None;
        };
        let n = self.n();
        (n > 0).then(|| {
            let share = |count: &u64| *count as f64 / n as f64;
            (share(promoters), share(passives), share(detractors))
        })
    }

    /// Whether `self` (the later period) differs from `earlier`.
    fn test_against(&self, earlier: &Accumulator) -> Option<Test> {
        match (earlier, self) {
            (Accumulator::Nps { .. }, Accumulator::Nps { .. }) => {
                let (a, _, se_a) = earlier.estimate();
                let (b, _, se_b) = self.estimate();
                stats::z_test(a?, se_a.unwrap_or(0.0), b?, se_b.unwrap_or(0.0))
            }
            (Accumulator::TopBox { hits: ha, n: na }, Accumulator::TopBox { hits: hb, n: nb }) => {
                stats::two_proportion_test(*ha, *na, *hb, *nb)
            }
            (Accumulator::Mean(a, _), Accumulator::Mean(b, _))
            | (
                Accumulator::Weighted { overall: a, .. },
                Accumulator::Weighted { overall: b, .. },
            ) => {
                let scale = if matches!(self, Accumulator::Weighted { .. }) {
                    100.0
                } else {
                    1.0
                };
                let scaled =
                    |(mean, var, n): (f64, f64, u64)| (mean * scale, var * scale * scale, n);
                stats::welch_test(scaled(a.welch()), scaled(b.welch()))
            }
            _ => None,
        }
    }
}

/// A mean's t interval, multiplied by `scale` and clipped to `bounds` (the question's
/// scale, or 0–100 %): a t interval from a few answers can reach past the scale's ends,
/// and no mean can lie there.
fn mean_interval(m: &Moments, scale: f64, bounds: Option<(f64, f64)>) -> Option<Interval> {
    let interval = stats::t_interval(m.mean, m.variance()?, m.n)?;
    let (lo, hi) = bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    Some(Interval {
        low: (scale * interval.low).max(lo),
        high: (scale * interval.high).min(hi),
    })
}

/// A scorecard item's answer as a share of its maximum: yes = 1, no = 0, a rating
/// (v − min) / (max − min).
fn item_share(value: &AnswerValue, range: Option<(i64, i64)>) -> Option<f64> {
    match (value, range) {
        (AnswerValue::Number(v), Some((lo, hi))) if hi > lo => {
            // In floating point: a scale's ends far apart must not overflow.
            Some((*v as f64 - lo as f64) / (hi as f64 - lo as f64))
        }
        (AnswerValue::Word(w), None) if w == "yes" => Some(1.0),
        (AnswerValue::Word(w), None) if w == "no" => Some(0.0),
        _ => None,
    }
}

/// The running state of every metric for one group of responses.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    responses: u64,
    metrics: Vec<Accumulator>,
}

impl Cell {
    fn new(specs: &[MetricSpec]) -> Cell {
        Cell {
            responses: 0,
            metrics: specs.iter().map(Accumulator::new).collect(),
        }
    }

    fn add(&mut self, observed: &Observations) {
        self.responses += 1;
        for ((acc, observation), items) in self
            .metrics
            .iter_mut()
            .zip(&observed.metrics)
            .zip(&observed.item_shares)
        {
            acc.add(*observation, items);
        }
    }
}

/// One response's contribution to a metric, resolved once and then added to every group
/// the response belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Observation {
    /// The metric's question is unanswered.
    Missing,
    /// A scale point (nps, mean).
    Score(i64),
    /// Whether the answer is in the top box.
    Hit(bool),
    /// A scorecard's weighted share of the maximum.
    Share(f64),
}

/// Every metric's observation for one response, in buffers reused from one response to
/// the next.
#[derive(Debug, Clone, Default)]
struct Observations {
    metrics: Vec<Observation>,
    /// Per metric, the share of each scorecard item (empty for other kinds).
    item_shares: Vec<Vec<Option<f64>>>,
}

impl Observations {
    fn resolve(&mut self, specs: &[MetricSpec], slots: &(impl AnswerSlots + ?Sized)) {
        self.metrics.clear();
        self.item_shares.resize_with(specs.len(), Vec::new);
        for (spec, shares) in specs.iter().zip(&mut self.item_shares) {
            shares.clear();
            let answer = spec.answer(slots);
            let observation = match spec.kind {
                MetricKind::Nps | MetricKind::Mean => answer
                    .and_then(AnswerValue::as_number)
                    .map_or(Observation::Missing, Observation::Score),
                MetricKind::TopBox => answer.map_or(Observation::Missing, |v| {
                    Observation::Hit(spec.top_box.contains(v))
                }),
                MetricKind::Weighted => {
                    let (mut points, mut max) = (0.0, 0.0);
                    for item in &spec.items {
                        let answer = slots.answer(item.slot);
                        let share = answer.and_then(|v| item_share(v, item.range));
                        if let Some(share) = share {
                            points += item.weight * share;
                            max += item.weight;
                        }
                        shares.push(share);
                    }
                    if max > 0.0 {
                        Observation::Share(points / max)
                    } else {
                        Observation::Missing
                    }
                }
            };
            self.metrics.push(observation);
        }
    }
}

/// A question whose answers are counted per value.
#[derive(Debug, Clone)]
struct Histogram {
    question: String,
    /// The question as asked, in the survey's default locale.
    text: String,
    /// Per value, what a reader sees: an option's text, Yes or No, a scale point.
    labels: Vec<String>,
    slot: usize,
    kind: QuestionType,
    values: Vec<AnswerValue>,
    counts: Vec<u64>,
}

impl Histogram {
    fn add(&mut self, slots: &(impl AnswerSlots + ?Sized)) {
        let Some(value) = slots.answer(self.slot) else {
            return;
        };
        let index = match (value, self.values.first()) {
            (AnswerValue::Number(v), Some(AnswerValue::Number(lo))) => {
                v.checked_sub(*lo).and_then(|d| usize::try_from(d).ok())
            }
            _ => self.values.iter().position(|x| x == value),
        };
        if let Some(count) = index.and_then(|i| self.counts.get_mut(i)) {
            *count += 1;
        }
    }
}

/// Everything folded for one survey version.
#[derive(Debug, Clone)]
struct VersionFold {
    overall: Cell,
    histograms: Vec<Histogram>,
    /// Per free-text question, how many answered it.
    comments: Vec<CommentCount>,
    trend: Groups<Cell>,
    segments: Groups<Groups<Cell>>,
    by_rule: Groups<u64>,
    first: Option<String>,
    last: Option<String>,
    /// The last day seen and its period's place in `trend`: answers mostly arrive in time
    /// order.
    period_cache: Option<(String, usize)>,
}

/// Folds a survey's responses, one at a time, into its summary.
#[derive(Debug, Clone)]
pub struct Fold {
    survey: Survey,
    specs: Vec<MetricSpec>,
    period: Period,
    versions: BTreeMap<u32, VersionFold>,
    observed: Observations,
}

impl Fold {
    /// Starts a fold for a survey, grouping the trend by `period`.
    pub fn new(survey: &Survey, period: Period) -> Fold {
        Fold {
            survey: survey.clone(),
            specs: MetricSpec::resolve(survey),
            period,
            versions: BTreeMap::new(),
            observed: Observations::default(),
        }
    }

    /// Adds one response that counts.
    pub fn add(&mut self, response: &StoredResponse) {
        let slots = Slots::new(&self.survey.questions, &response.answers);
        self.add_view(&ResponseView {
            version: response.version,
            channel: &response.channel,
            rule: response.rule.as_deref(),
            locale: response.locale.as_deref(),
            submitted_at: &response.submitted_at,
            segments: &response.segments,
            answers: &slots,
        });
    }

    /// Adds one response that counts, its answers already in position.
    pub fn add_view<A: AnswerSlots + ?Sized>(&mut self, response: &ResponseView<'_, A>) {
        self.observed.resolve(&self.specs, response.answers);
        let fold = self
            .versions
            .entry(response.version)
            .or_insert_with(|| VersionFold::new(&self.survey, &self.specs));
        fold.add(response, &self.observed, &self.specs, self.period);
    }

    /// The summary: every version seen (and the survey's current version, even with no
    /// answers), cells below `min_n` suppressed; `delivered` gives the people reached per
    /// (version, rule) for the response rates.
    pub fn finish(mut self, delivered: &BTreeMap<(u32, String), u64>, min_n: u32) -> Summary {
        let current = self.survey.version;
        if !self.versions.contains_key(&current) {
            let empty = VersionFold::new(&self.survey, &self.specs);
            self.versions.insert(current, empty);
        }
        let versions = self
            .versions
            .iter()
            .rev()
            .map(|(version, fold)| fold.summary(*version, &self.specs, delivered, min_n))
            .collect();
        Summary {
            survey: self.survey.id.clone(),
            title: self
                .survey
                .title
                .get(self.survey.default_locale(), "")
                .to_string(),
            period: match self.period {
                Period::Week => "week",
                Period::Month => "month",
            },
            min_n,
            confidence: stats::CONFIDENCE,
            definition: Definition {
                version: current,
                hash: self.survey.definition_hash(),
                commit: None,
            },
            versions,
        }
    }
}

/// Groups by a text key (a period, a segment value, a rule): the last group used is
/// checked first (answers mostly arrive in time order, so a period's rows come together), then
/// the entries themselves while there are few of them (a response's dimensions alternate
/// between a handful of keys), then a hash index; [`Groups::sorted`] gives the
/// deterministic order of the summary.
#[derive(Debug, Clone)]
struct Groups<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
    last: usize,
}

/// Up to this many groups, a key is looked for by comparing it with each.
const SCANNED_GROUPS: usize = 8;

impl<V> Default for Groups<V> {
    fn default() -> Self {
        Groups {
            entries: Vec::new(),
            index: HashMap::new(),
            last: 0,
        }
    }
}

impl<V> Groups<V> {
    fn get_or_insert(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        self.get_or_insert_near(self.last, key, make)
    }

    /// [`Groups::get_or_insert`], checking the group at `near` first: a response's n-th
    /// segment dimension is usually the one the previous response had n-th.
    fn get_or_insert_near(&mut self, near: usize, key: &str, make: impl FnOnce() -> V) -> &mut V {
        self.last = near;
        let hit = self.entries.get(self.last).is_some_and(|(k, _)| k == key);
        if !hit {
            self.last = self.position_or_insert(key, make);
        }
        &mut self.entries[self.last].1
    }

    /// Where the group of `key` is, made if new: a place that stays the group's for good.
    fn position_or_insert(&mut self, key: &str, make: impl FnOnce() -> V) -> usize {
        self.position(key).unwrap_or_else(|| {
            self.entries.push((key.to_string(), make()));
            self.index.insert(key.to_string(), self.entries.len() - 1);
            self.entries.len() - 1
        })
    }

    /// The group at a place [`Groups::position_or_insert`] gave.
    fn at(&mut self, position: usize) -> &mut V {
        &mut self.entries[position].1
    }

    fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= SCANNED_GROUPS {
            self.entries.iter().position(|(k, _)| k == key)
        } else {
            self.index.get(key).copied()
        }
    }

    fn sorted(&self) -> Vec<(&String, &V)> {
        let mut sorted: Vec<(&String, &V)> = self.entries.iter().map(|(k, v)| (k, v)).collect();
        sorted.sort_by_key(|(k, _)| *k);
        sorted
    }
}

/// The segment dimensions a response belongs to: locale, channel, rule, and its segment
/// columns.
fn dimensions<'a, A: AnswerSlots + ?Sized>(
    response: &ResponseView<'a, A>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let fixed = [
        ("locale", response.locale),
        ("channel", Some(response.channel)),
        ("rule", response.rule),
    ];
    fixed.into_iter().filter_map(|(d, v)| Some((d, v?))).chain(
        response
            .segments
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(d, v)| (d.as_str(), v.as_str())),
    )
}

/// The period of an RFC 3339 UTC time: `2026-09` for months, `2026-W36` for ISO weeks.
pub fn period_of(submitted_at: &str, period: Period) -> String {
    let day = submitted_at.get(..10).unwrap_or(submitted_at);
    match period {
        Period::Month => day.get(..7).unwrap_or(day).to_string(),
        Period::Week => match day.parse::<jiff::civil::Date>() {
            Ok(date) => {
                let week = date.iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Err(_) => day.to_string(),
        },
    }
}

/// A metric's name when the survey gives it no `title`: what it measures, in words
/// built from its kind and its question, never its id alone.
fn default_title(
    metric: &crate::model::Metric,
    question: Option<&Question>,
    locale: &str,
) -> String {
    let asked = question.map(|q| q.text.get(locale, locale));
    match (metric.kind, question, asked) {
        (MetricKind::Nps, _, _) => "NPS".to_string(),
        (MetricKind::Mean, _, Some(text)) => format!("Mean answer to “{text}”"),
        (MetricKind::TopBox, Some(q), Some(text)) => {
            let values: Vec<String> = metric
                .values
                .iter()
                .map(|v| value_label(q, v, locale))
                .collect();
            format!("Share answering {} to “{text}”", values.join(" or "))
        }
        _ => {
            let words = metric.id.replace(['_', '-'], " ");
            let mut chars = words.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
        }
    }
}

/// An answer as a report reader knows it: the option's text rather than its id.
fn value_label(question: &Question, value: &AnswerValue, locale: &str) -> String {
    match (question.kind, value) {
        (QuestionType::YesNo, AnswerValue::Word(w)) if w == "yes" => "Yes".to_string(),
        (QuestionType::YesNo, _) => "No".to_string(),
        (QuestionType::Choice, AnswerValue::Word(id)) => question
            .options
            .iter()
            .find(|o| &o.id == id)
            .map_or_else(|| id.clone(), |o| o.text.get(locale, locale).to_string()),
        _ => value.to_string(),
    }
}

impl VersionFold {
    fn new(survey: &Survey, specs: &[MetricSpec]) -> VersionFold {
        let histograms = survey
            .questions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.kind != QuestionType::Text)
            .map(|(slot, q)| {
                let values = q.values();
                let locale = survey.default_locale();
                Histogram {
                    question: q.id.clone(),
                    text: q.text.get(locale, locale).to_string(),
                    labels: values.iter().map(|v| value_label(q, v, locale)).collect(),
                    slot,
                    kind: q.kind,
                    counts: vec![0; values.len()],
                    values,
                }
            })
            .collect();
        let locale = survey.default_locale();
        let comments = survey
            .questions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.kind == QuestionType::Text)
            .map(|(slot, q)| CommentCount {
                question: q.id.clone(),
                text: q.text.get(locale, locale).to_string(),
                slot,
                n: 0,
            })
            .collect();
        VersionFold {
            overall: Cell::new(specs),
            histograms,
            comments,
            trend: Groups::default(),
            segments: Groups::default(),
            by_rule: Groups::default(),
            first: None,
            last: None,
            period_cache: None,
        }
    }

    fn add<A: AnswerSlots + ?Sized>(
        &mut self,
        response: &ResponseView<'_, A>,
        observed: &Observations,
        specs: &[MetricSpec],
        period: Period,
    ) {
        self.overall.add(observed);
        for histogram in &mut self.histograms {
            histogram.add(response.answers);
        }
        for comments in &mut self.comments {
            comments.n += u64::from(response.answers.answer(comments.slot).is_some());
        }
        let day = response.submitted_at.get(..10).unwrap_or_default();
        let trend = match &self.period_cache {
            Some((d, trend)) if d == day => *trend,
            _ => {
                let key = period_of(response.submitted_at, period);
                let trend = self.trend.position_or_insert(&key, || Cell::new(specs));
                self.period_cache = Some((day.to_string(), trend));
                trend
            }
        };
        self.trend.at(trend).add(observed);
        for (n, (dimension, value)) in dimensions(response).enumerate() {
            let cells = self
                .segments
                .get_or_insert_near(n, dimension, Groups::default);
            cells
                .get_or_insert(value, || Cell::new(specs))
                .add(observed);
        }
        if let Some(rule) = response.rule {
            *self.by_rule.get_or_insert(rule, || 0) += 1;
        }
        let at = response.submitted_at;
        match &mut self.first {
            Some(first) if first.as_str() <= at => {}
            slot => *slot = Some(at.to_string()),
        }
        match &mut self.last {
            Some(last) if last.as_str() >= at => {}
            Some(last) => at.clone_into(last),
            None => self.last = Some(at.to_string()),
        }
    }

    fn summary(
        &self,
        version: u32,
        specs: &[MetricSpec],
        delivered: &BTreeMap<(u32, String), u64>,
        min_n: u32,
    ) -> VersionSummary {
        VersionSummary {
            version,
            responses: self.overall.responses,
            first_submitted: self.first.clone(),
            last_submitted: self.last.clone(),
            metrics: specs
                .iter()
                .zip(&self.overall.metrics)
                .map(|(spec, acc)| MetricResult::new(spec, acc))
                .collect(),
            distributions: self.histograms.iter().map(Distribution::new).collect(),
            comments: self.comments.clone(),
            trend: self.trend(specs),
            segments: self.segments(specs, u64::from(min_n)),
            response_rates: self.response_rates(version, delivered),
        }
    }

    /// The metrics per period, each compared with the last earlier period in which that
    /// metric had answers (a period can have responses that leave its question unanswered).
    fn trend(&self, specs: &[MetricSpec]) -> Vec<TrendPoint> {
        let mut previous: Vec<Option<(&String, &Accumulator)>> = vec![None; specs.len()];
        let mut points = Vec::new();
        for (period, cell) in self.trend.sorted() {
            let metrics = specs
                .iter()
                .zip(&cell.metrics)
                .zip(&mut previous)
                .map(|((spec, acc), previous)| {
                    let (score, interval, _) = acc.estimate();
                    let change = previous.and_then(|(from, before)| {
                        Some(Change {
                            from: from.clone(),
                            delta: score? - before.estimate().0?,
                            test: acc.test_against(before),
                        })
                    });
                    if acc.n() > 0 {
                        *previous = Some((period, acc));
                    }
                    TrendMetric {
                        id: spec.id.clone(),
                        n: acc.n(),
                        score,
                        interval,
                        change,
                    }
                })
                .collect();
            points.push(TrendPoint {
                period: period.clone(),
                responses: cell.responses,
                metrics,
            });
        }
        points
    }

    fn segments(&self, specs: &[MetricSpec], min_n: u64) -> Vec<SegmentDimension> {
        let mut dimensions: Vec<SegmentDimension> = self
            .segments
            .sorted()
            .into_iter()
            .map(|(dimension, cells)| SegmentDimension {
                dimension: dimension.clone(),
                cells: cells
                    .sorted()
                    .into_iter()
                    .map(|(value, cell)| SegmentCell {
                        value: value.clone(),
                        responses: (cell.responses >= min_n).then_some(cell.responses),
                        metrics: specs
                            .iter()
                            .zip(&cell.metrics)
                            .map(|(spec, acc)| SegmentMetric::new(spec, acc, min_n))
                            .collect(),
                        sizes: cell.metrics.iter().map(Accumulator::n).collect(),
                    })
                    .collect(),
            })
            .collect();
        for dimension in &mut dimensions {
            for metric in 0..specs.len() {
                suppress_complement(&mut dimension.cells, metric);
            }
        }
        dimensions
    }

    fn response_rates(
        &self,
        version: u32,
        delivered: &BTreeMap<(u32, String), u64>,
    ) -> Vec<ResponseRate> {
        let mut rules: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (rule, count) in self.by_rule.sorted() {
            rules.entry(rule).or_default().0 = *count;
        }
        for ((v, rule), count) in delivered {
            if *v == version {
                rules.entry(rule).or_default().1 = *count;
            }
        }
        rules
            .into_iter()
            .map(|(rule, (responses, delivered))| ResponseRate {
                rule: rule.to_string(),
                responses,
                delivered,
                rate: (delivered > 0).then(|| 100.0 * responses as f64 / delivered as f64),
            })
            .collect()
    }
}

/// When exactly one cell of a dimension is suppressed for a metric, its score could be
/// derived from the total and the other cells: suppress the next smallest cell too.
fn suppress_complement(cells: &mut [SegmentCell], metric: usize) {
    let suppressed = cells
        .iter()
        .filter(|c| c.metrics[metric].suppressed.is_some() && c.sizes[metric] > 0)
        .count();
    if suppressed != 1 {
        return;
    }
    let smallest = cells
        .iter_mut()
        .filter(|c| c.metrics[metric].suppressed.is_none() && c.sizes[metric] > 0)
        .min_by_key(|c| c.sizes[metric]);
    if let Some(cell) = smallest {
        cell.metrics[metric].suppress(Suppression::Complementary);
    }
}

/// The summary of one survey: what `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The survey id.
    pub survey: String,
    /// The survey's title in its default locale.
    pub title: String,
    /// The trend's period: `week` or `month`.
    pub period: &'static str,
    /// The smallest segment cell whose score is shown.
    pub min_n: u32,
    /// The level of every interval and test.
    pub confidence: f64,
    /// The definition the answers of the current version are validated against, so a
    /// reader can tell which wording produced the scores.
    pub definition: Definition,
    /// Per survey version, newest first; versions are never mixed.
    pub versions: Vec<VersionSummary>,
}

impl Summary {
    /// Lists each of the survey's current rules in the current version's response rates,
    /// those nobody was reached through and nobody answered through included: a rule
    /// missing from the table would read as a rule that does not exist.
    pub fn list_rules<'a>(&mut self, rules: impl IntoIterator<Item = &'a str>) {
        let current = self.definition.version;
        let Some(version) = self.versions.iter_mut().find(|v| v.version == current) else {
            return;
        };
        for rule in rules {
            if !version.response_rates.iter().any(|r| r.rule == rule) {
                version.response_rates.push(ResponseRate {
                    rule: rule.to_string(),
                    responses: 0,
                    delivered: 0,
                    rate: None,
                });
            }
        }
        version.response_rates.sort_by(|a, b| a.rule.cmp(&b.rule));
    }
}

/// A survey definition: its version, the hash of its content and the commit that holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definition {
    /// The survey's version.
    pub version: u32,
    /// The definition hash every answer is stored with.
    pub hash: String,
    /// The last commit of `survey.yaml`, when the workspace is in a git repository and
    /// the file has no uncommitted change.
    pub commit: Option<String>,
}

/// The scores of one survey version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionSummary {
    /// The version.
    pub version: u32,
    /// Responses that count.
    pub responses: u64,
    /// The first answer's time.
    pub first_submitted: Option<String>,
    /// The last answer's time.
    pub last_submitted: Option<String>,
    /// Each metric over all responses.
    pub metrics: Vec<MetricResult>,
    /// The answers' distribution for every rated question.
    pub distributions: Vec<Distribution>,
    /// How many answered each free-text question; the texts themselves are read with
    /// `canvass comments`, never committed, since they can hold personal data.
    pub comments: Vec<CommentCount>,
    /// The metrics per period, oldest first.
    pub trend: Vec<TrendPoint>,
    /// The metrics per segment cell.
    pub segments: Vec<SegmentDimension>,
    /// Responses over people reached, per rule.
    pub response_rates: Vec<ResponseRate>,
}

/// How a metric's score and interval are computed. Every interval stays within what
/// the score can be: Wilson's by construction, the others clipped to the scale's ends
/// (a Wald or t interval from a few answers reaches past them), and the id says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// % promoters − % detractors; Wald interval clipped to ±100.
    NpsWaldClipped,
    /// The share in the top box; Wilson score interval.
    TopBoxWilson,
    /// The mean answer; t interval clipped to the question's scale.
    MeanTClipped,
    /// The mean weighted share of the maximum; t interval clipped to 0–100 %.
    WeightedShareTClipped,
}

impl Method {
    /// The method's id in `summary.json` and in the report's footnotes.
    pub fn id(self) -> &'static str {
        match self {
            Method::NpsWaldClipped => "nps_wald_clipped",
            Method::TopBoxWilson => "top_box_wilson",
            Method::MeanTClipped => "mean_t_clipped",
            Method::WeightedShareTClipped => "weighted_share_t_clipped",
        }
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// One metric's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    /// The metric id.
    pub id: String,
    /// nps | top_box | mean | weighted.
    pub kind: MetricKind,
    /// The metric's name: its `title`, or words built from its kind and question.
    pub title: Option<String>,
    /// The question scored (not for weighted).
    pub question: Option<String>,
    /// How the score and its interval were computed.
    pub method: Method,
    /// Answers to the question (unanswered excluded).
    pub n: u64,
    /// The score, `None` with no answers.
    pub score: Option<f64>,
    /// The 95% interval, `None` where it cannot be computed.
    pub interval: Option<Interval>,
    /// The standard error (NPS, in points).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
    /// Promoters, passives and detractors in percent (NPS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<NpsShares>,
    /// Promoters, passives and detractors counted (NPS), so a reader sees the people
    /// behind the percentages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<NpsGroups>,
    /// The answers in the top box (top_box).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<u64>,
    /// Per-item scores (weighted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemScore>,
}

impl MetricResult {
    fn new(spec: &MetricSpec, acc: &Accumulator) -> MetricResult {
        let (score, interval, standard_error) = acc.estimate();
        let groups = match *acc {
            Accumulator::Nps {
                promoters,
                passives,
                detractors,
            } => Some(NpsGroups {
                promoters,
                passives,
                detractors,
            }),
            _ => None,
        };
        let hits = match *acc {
            Accumulator::TopBox { hits, .. } => Some(hits),
            _ => None,
        };
        let shares = acc.nps_shares().map(|(p, pa, d)| NpsShares {
            promoters: 100.0 * p,
            passives: 100.0 * pa,
            detractors: 100.0 * d,
        });
        let items = match acc {
            Accumulator::Weighted { items, .. } => spec
                .items
                .iter()
                .zip(items)
                .map(|(item, m)| ItemScore {
                    question: item.question.clone(),
                    text: item.text.clone(),
                    weight: item.weight,
                    n: m.n,
                    score: m.mean().map(|x| 100.0 * x),
                })
                .collect(),
            _ => Vec::new(),
        };
        MetricResult {
            id: spec.id.clone(),
            kind: spec.kind,
            title: spec.title.clone(),
            question: spec.question.clone(),
            method: spec.method(),
            n: acc.n(),
            score,
            interval,
            standard_error,
            shares,
            groups,
            hits,
            items,
        }
    }
}

/// The NPS groups' shares in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NpsShares {
    /// 9–10.
    pub promoters: f64,
    /// 7–8.
    pub passives: f64,
    /// 0–6.
    pub detractors: f64,
}

/// The NPS groups counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NpsGroups {
    /// Answers 9–10.
    pub promoters: u64,
    /// Answers 7–8.
    pub passives: u64,
    /// Answers 0–6.
    pub detractors: u64,
}

/// A scorecard item's score as a percent of its maximum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemScore {
    /// The question.
    pub question: String,
    /// The question as asked, in the survey's default locale: the item's name in reports.
    pub text: String,
    /// Its weight.
    pub weight: f64,
    /// Answers.
    pub n: u64,
    /// The mean share of the maximum, in percent.
    pub score: Option<f64>,
}

/// How many answered one free-text question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentCount {
    /// The question.
    pub question: String,
    /// The question as asked, in the survey's default locale.
    pub text: String,
    #[serde(skip)]
    slot: usize,
    /// Answers given.
    pub n: u64,
}

/// How often each value was given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// The question.
    pub question: String,
    /// The question as asked, in the survey's default locale.
    pub text: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// Answers.
    pub n: u64,
    /// Every possible value, in scale order, with its count.
    pub counts: Vec<ValueCount>,
}

impl Distribution {
    fn new(histogram: &Histogram) -> Distribution {
        Distribution {
            question: histogram.question.clone(),
            text: histogram.text.clone(),
            kind: histogram.kind,
            n: histogram.counts.iter().sum(),
            counts: histogram
                .values
                .iter()
                .zip(&histogram.counts)
                .zip(&histogram.labels)
                .map(|((value, count), label)| ValueCount {
                    value: value.clone(),
                    label: label.clone(),
                    count: *count,
                })
                .collect(),
        }
    }
}

/// One bar of a distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueCount {
    /// The answer.
    pub value: AnswerValue,
    /// The answer as a reader knows it (an option's text, Yes or No, a scale point).
    pub label: String,
    /// How many gave it.
    pub count: u64,
}

/// The metrics in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// `2026-09` or `2026-W36`.
    pub period: String,
    /// Responses in the period.
    pub responses: u64,
    /// Each metric.
    pub metrics: Vec<TrendMetric>,
}

/// A metric in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendMetric {
    /// The metric id.
    pub id: String,
    /// Answers.
    pub n: u64,
    /// The score.
    pub score: Option<f64>,
    /// Its 95% interval.
    pub interval: Option<Interval>,
    /// The change from the previous period with answers.
    pub change: Option<Change>,
}

/// A change between two periods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The earlier period.
    pub from: String,
    /// This score minus the earlier one.
    pub delta: f64,
    /// The significance test, `None` when it cannot be computed.
    pub test: Option<Test>,
}

/// One segment dimension (locale, channel, rule, or a segment column).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentDimension {
    /// The dimension's name.
    pub dimension: String,
    /// Its cells, by value.
    pub cells: Vec<SegmentCell>,
}

/// The metrics for one segment value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentCell {
    /// The segment value.
    pub value: String,
    /// Responses, `None` below min_n.
    pub responses: Option<u64>,
    /// Each metric.
    pub metrics: Vec<SegmentMetric>,
    #[serde(skip)]
    sizes: Vec<u64>,
}

/// Why a cell's score is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Fewer answers than min_n.
    MinN,
    /// Hidden so that a suppressed cell cannot be derived from the total.
    Complementary,
}

/// A metric in one segment cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentMetric {
    /// The metric id.
    pub id: String,
    /// Answers, `None` when suppressed.
    pub n: Option<u64>,
    /// The score, `None` when suppressed or unanswered.
    pub score: Option<f64>,
    /// Its 95% interval.
    pub interval: Option<Interval>,
    /// Why the score is hidden, if it is.
    pub suppressed: Option<Suppression>,
}

impl SegmentMetric {
    fn new(spec: &MetricSpec, acc: &Accumulator, min_n: u64) -> SegmentMetric {
        let (score, interval, _) = acc.estimate();
        let mut metric = SegmentMetric {
            id: spec.id.clone(),
            n: Some(acc.n()),
            score,
            interval,
            suppressed: None,
        };
        if acc.n() < min_n {
            metric.suppress(Suppression::MinN);
        }
        metric
    }

    fn suppress(&mut self, why: Suppression) {
        self.n = None;
        self.score = None;
        self.interval = None;
        self.suppressed = Some(why);
    }
}

/// Responses over people reached for one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseRate {
    /// The rule.
    pub rule: String,
    /// Responses that count.
    pub responses: u64,
    /// People with a delivered message.
    pub delivered: u64,
    /// The rate in percent, `None` with no deliveries.
    pub rate: Option<f64>,
}

/// A score rounded for people: NPS in signed points, shares in percent, means to two
/// decimals; "–" when there is none.
pub fn format_score(kind: crate::model::MetricKind, score: Option<f64>) -> String {
    match (kind, score) {
        (_, None) => "–".to_string(),
        (crate::model::MetricKind::Nps, Some(x)) => format!("{x:+.1}"),
        (crate::model::MetricKind::Mean, Some(x)) => format!("{x:.2}"),
        (_, Some(x)) => format!("{x:.1}%"),
    }
}

#[cfg(test)]
mod tests {
    //! Expected values computed independently with Python 3 and SciPy 1.17:
    //! NPS by the formula in `statistics.pstdev` form (the population SD of the +1/0/−1
    //! scores over √n equals √((p + d − (p − d)²)/n)); Wilson with
    //! `scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`; the t interval with
    //! `scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=stdev/√n)`; Welch with
    //! `scipy.stats.ttest_ind(b, a, equal_var=False)`; the pooled two-proportion z test
    //! typed out with `scipy.stats.norm.sf`; the weighted scores by hand.
    use super::*;
    use serde_json::json;

    #[test]
    fn nps_groups_cut_the_scale_at_six_and_eight() {
        let groups: Vec<NpsGroup> = (0..=10).map(NpsGroup::of).collect();
        assert_eq!(groups[..7], [NpsGroup::Detractor; 7]);
        assert_eq!(groups[7..9], [NpsGroup::Passive; 2]);
        assert_eq!(groups[9..], [NpsGroup::Promoter; 2]);
    }

    fn survey() -> Survey {
        serde_json::from_value(json!({
            "id": "s", "version": 2, "locales": ["en"], "title": "T",
            "questions": [
                {"id": "rec", "type": "nps", "text": "x"},
                {"id": "sat", "type": "rating", "text": "x", "scale": {"min": 1, "max": 5}},
                {"id": "ok", "type": "yes_no", "text": "x", "weight": 2}
            ],
            "metrics": [
                {"id": "nps", "kind": "nps", "question": "rec"},
                {"id": "csat", "kind": "top_box", "question": "sat", "values": [4, 5]},
                {"id": "mean", "kind": "mean", "question": "sat"},
                {"id": "card", "kind": "weighted", "questions": ["ok", "sat"]}
            ]
        }))
        .unwrap()
    }

    fn response(version: u32, at: &str, answers: &[(&str, AnswerValue)]) -> StoredResponse {
        StoredResponse {
            version,
            response_key: at.to_string(),
            channel: "email".into(),
            rule: Some("r".into()),
            locale: Some("en".into()),
            submitted_at: at.to_string(),
            complete: true,
            answers: answers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            segments: Segments::new(),
        }
    }

    fn nps_answer(score: i64) -> StoredResponse {
        response(
            2,
            "2026-09-01T00:00:00Z",
            &[("rec", AnswerValue::Number(score))],
        )
    }

    fn fold(responses: &[StoredResponse]) -> Summary {
        let mut fold = Fold::new(&survey(), Period::Month);
        for r in responses {
            fold.add(r);
        }
        fold.finish(&BTreeMap::new(), 10)
    }

    fn metric<'a>(summary: &'a Summary, id: &str) -> &'a MetricResult {
        summary.versions[0]
            .metrics
            .iter()
            .find(|m| m.id == id)
            .unwrap()
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    use crate::store::Segments;

    #[test]
    fn nps_score_and_wald_interval() {
        // [10, 9, 9, 10, 9, 8, 7, 8, 3, 6]: p = 0.5, d = 0.2, score 30,
        // SE = 100·√((0.7 − 0.09)/10) = 24.69817807045694, 30 ± 1.959964·SE.
        let answers: Vec<_> = [10, 9, 9, 10, 9, 8, 7, 8, 3, 6]
            .into_iter()
            .map(nps_answer)
            .collect();
        let summary = fold(&answers);
        let nps = metric(&summary, "nps");
        close(nps.score.unwrap(), 30.0);
        close(nps.standard_error.unwrap(), 24.698_178_070_456_94);
        let interval = nps.interval.unwrap();
        close(interval.low, -18.407_539_501_852_57);
        close(interval.high, 78.407_539_501_852_57);
        let shares = nps.shares.unwrap();
        close(shares.passives, 30.0);
        assert_eq!(nps.n, 10);
    }

    #[test]
    fn nps_interval_is_clipped() {
        // Nine 10s and a 0: score 80, SE = 100·numpy.std(scores)/√10 = 18.973665961010276,
        // 80 ± norm.ppf(0.975)·SE = (42.8122980617263, 117.1877019382737): cut at +100.
        let mut answers: Vec<_> = (0..9).map(|_| nps_answer(10)).collect();
        answers.push(nps_answer(0));
        let summary = fold(&answers);
        let nps = metric(&summary, "nps");
        close(nps.standard_error.unwrap(), 18.973_665_961_010_276);
        close(nps.interval.unwrap().low, 42.812_298_061_726_3);
        assert_eq!(nps.interval.unwrap().high, 100.0);
        assert_eq!(nps.method, Method::NpsWaldClipped);
    }

    #[test]
    fn three_answers_stay_on_the_scale() {
        // [5, 5, 1] on 1–5: t.interval(0.95, 2, loc=mean, scale=stdev/√3) =
        // (-2.0702036396659502, 9.403536972999284), cut to the scale's ends.
        let summary = fold(&sat(&[5, 5, 1]));
        let mean = metric(&summary, "mean");
        let variance = 16.0 / 3.0;
        let raw = stats::t_interval(11.0 / 3.0, variance, 3).unwrap();
        close(raw.low, -2.070_203_639_665_950_2);
        close(raw.high, 9.403_536_972_999_284);
        assert_eq!(
            mean.interval,
            Some(Interval {
                low: 1.0,
                high: 5.0
            })
        );
        assert_eq!(mean.method, Method::MeanTClipped);
        // binomtest(2, 3).proportion_ci(method="wilson") = (0.2076596008020478, 0.9385080552796038)
        let csat = metric(&summary, "csat").interval.unwrap();
        close(csat.low, 20.765_960_080_204_78);
        close(csat.high, 93.850_805_527_960_38);
        // binomtest(3, 3): (0.4385029682449546, 1.0), bounded without clipping.
        let all = metric(&fold(&sat(&[5, 4, 5])), "csat").interval.unwrap();
        close(all.low, 43.850_296_824_495_46);
        close(all.high, 100.0);
    }

    #[test]
    fn weighted_interval_is_clipped() {
        // Shares [1, 1, 0.75] ((yes, 5), (yes, 5), (yes, 2): (2 + 0.25)/3) in %:
        // t.interval(0.95, 2, ...) = (55.811227252087804, 127.52210608124552): cut at 100.
        let yes = || ("ok", AnswerValue::word("yes"));
        let at = "2026-09-01T00:00:00Z";
        let summary = fold(&[
            response(2, at, &[yes(), ("sat", AnswerValue::Number(5))]),
            response(2, at, &[yes(), ("sat", AnswerValue::Number(5))]),
            response(2, at, &[yes(), ("sat", AnswerValue::Number(2))]),
        ]);
        let card = metric(&summary, "card");
        close(card.interval.unwrap().low, 55.811_227_252_087_804);
        assert_eq!(card.interval.unwrap().high, 100.0);
        assert_eq!(card.method, Method::WeightedShareTClipped);
    }

    fn sat(values: &[i64]) -> Vec<StoredResponse> {
        values
            .iter()
            .map(|v| {
                response(
                    2,
                    "2026-09-01T00:00:00Z",
                    &[("sat", AnswerValue::Number(*v))],
                )
            })
            .collect()
    }

    #[test]
    fn top_box_with_wilson_interval() {
        // 8 of 10 in the top box: binomtest(8, 10) Wilson = (49.016247153664175, 94.33178485456249)
        let summary = fold(&sat(&[5, 4, 4, 5, 5, 4, 4, 5, 2, 3]));
        let csat = metric(&summary, "csat");
        close(csat.score.unwrap(), 80.0);
        close(csat.interval.unwrap().low, 49.016_247_153_664_175);
        close(csat.interval.unwrap().high, 94.331_784_854_562_49);
        // 0 of 5: (0, 43.44824647831748): honest at 0%
        let none = fold(&sat(&[1, 2, 3, 1, 2]));
        close(
            metric(&none, "csat").interval.unwrap().high,
            43.448_246_478_317_48,
        );
    }

    #[test]
    fn mean_with_t_interval() {
        // [1, 2, 3, 4, 5, 5]: mean 3.3333, t.interval = (1.6196121095757903, 5.047054557090877),
        // whose high end is past the 1–5 scale and so is kept at 5.
        let summary = fold(&sat(&[1, 2, 3, 4, 5, 5]));
        let mean = metric(&summary, "mean");
        close(mean.score.unwrap(), 10.0 / 3.0);
        close(mean.interval.unwrap().low, 1.619_612_109_575_790_3);
        close(mean.interval.unwrap().high, 5.0);
        // [2, 3, 3, 4]: t.interval = (1.7007717363746626, 4.299228263625338), inside the scale.
        let inside = fold(&sat(&[2, 3, 3, 4]));
        let mean = metric(&inside, "mean");
        close(mean.interval.unwrap().low, 1.700_771_736_374_662_6);
        close(mean.interval.unwrap().high, 4.299_228_263_625_338);
    }

    #[test]
    fn a_share_of_a_scale_with_far_ends_does_not_overflow() {
        let ends = Some((i64::MIN, i64::MAX));
        assert_eq!(item_share(&AnswerValue::Number(i64::MAX), ends), Some(1.0));
        assert_eq!(item_share(&AnswerValue::Number(i64::MIN), ends), Some(0.0));
    }

    #[test]
    fn weighted_scorecard() {
        // ok weight 2 (yes = 1), sat weight 1 ((v − 1)/4):
        // (yes, 5) → 3/3 = 1; (no, 3) → 0.5/3; (yes, —) → 2/2 = 1; mean 0.72222 → 72.22%;
        // items: ok 2/3 = 66.67%, sat (1 + 0.5)/2 = 75%.
        let yes = AnswerValue::word("yes");
        let summary = fold(&[
            response(
                2,
                "2026-09-01T00:00:00Z",
                &[("ok", yes.clone()), ("sat", AnswerValue::Number(5))],
            ),
            response(
                2,
                "2026-09-01T00:00:00Z",
                &[
                    ("ok", AnswerValue::word("no")),
                    ("sat", AnswerValue::Number(3)),
                ],
            ),
            response(2, "2026-09-01T00:00:00Z", &[("ok", yes)]),
        ]);
        let card = metric(&summary, "card");
        close(card.score.unwrap(), 100.0 * (1.0 + 1.0 / 6.0 + 1.0) / 3.0);
        close(card.items[0].score.unwrap(), 200.0 / 3.0);
        close(card.items[1].score.unwrap(), 75.0);
        assert_eq!(card.n, 3);
    }

    #[test]
    fn no_answers_one_answer_and_no_spread() {
        let empty = fold(&[]);
        for m in &empty.versions[0].metrics {
            assert_eq!((m.n, m.score, m.interval), (0, None, None), "{}", m.id);
        }
        assert_eq!(
            empty.versions[0].version, 2,
            "the current version is listed"
        );
        let one = fold(&[nps_answer(9)]);
        assert_eq!(metric(&one, "nps").score, Some(100.0));
        assert_eq!(metric(&one, "nps").interval, None);
        let equal = fold(&sat(&[4, 4, 4]));
        assert_eq!(metric(&equal, "mean").score, Some(4.0));
        assert_eq!(metric(&equal, "mean").interval, None);
        let json = serde_json::to_string(&equal).unwrap();
        assert!(!json.contains("NaN") && !json.contains("inf"));
    }

    #[test]
    fn versions_are_never_mixed() {
        let summary = fold(&[
            response(
                1,
                "2026-08-01T00:00:00Z",
                &[("rec", AnswerValue::Number(0))],
            ),
            nps_answer(10),
            nps_answer(10),
        ]);
        let versions: Vec<(u32, u64)> = summary
            .versions
            .iter()
            .map(|v| (v.version, v.metrics[0].n))
            .collect();
        assert_eq!(versions, [(2, 2), (1, 1)]);
        assert_eq!(summary.versions[0].metrics[0].score, Some(100.0));
    }

    #[test]
    fn trend_tests_the_change() {
        // September [10, 9, 9, 10, 9, 8, 7, 8, 3, 6] (30), October
        // [10, 10, 9, 9, 9, 10, 8, 9, 10, 7] (80, SE 12.649110640673515):
        // z = 50/√(24.698² + 12.649²) = 1.801874925391118, p = 0.07156508609119941.
        let mut answers: Vec<_> = [10, 9, 9, 10, 9, 8, 7, 8, 3, 6]
            .into_iter()
            .map(nps_answer)
            .collect();
        answers.extend([10, 10, 9, 9, 9, 10, 8, 9, 10, 7].into_iter().map(|s| {
            response(
                2,
                "2026-10-03T00:00:00Z",
                &[("rec", AnswerValue::Number(s))],
            )
        }));
        let summary = fold(&answers);
        let trend = &summary.versions[0].trend;
        assert_eq!(trend.len(), 2);
        let change = trend[1].metrics[0].change.as_ref().unwrap();
        assert_eq!(change.from, "2026-09");
        close(change.delta, 50.0);
        let test = change.test.unwrap();
        close(test.statistic, 1.801_874_925_391_118);
        close(test.p_value, 0.071_565_086_091_199_41);
        assert!(!test.significant);
    }

    #[test]
    fn a_change_is_from_the_last_period_the_metric_was_answered() {
        let at = |month: &str, answers: &[(&str, AnswerValue)]| {
            response(2, &format!("2026-{month}-01T00:00:00Z"), answers)
        };
        let summary = fold(&[
            at("09", &[("sat", AnswerValue::Number(5))]),
            at("10", &[("rec", AnswerValue::Number(9))]),
            at("11", &[("sat", AnswerValue::Number(3))]),
        ]);
        let trend = &summary.versions[0].trend;
        let mean = |point: usize| &trend[point].metrics[2];
        assert_eq!(mean(1).n, 0);
        let change = mean(2).change.as_ref().unwrap();
        assert_eq!((change.from.as_str(), change.delta), ("2026-09", -2.0));
    }

    #[test]
    fn significance_tests_match_scipy() {
        // ttest_ind(B, A, equal_var=False) with A = [4, 5, 3, 4, 5, 4],
        // B = [2, 3, 3, 2, 4, 1, 2]: t = -3.6202550912505513, p = 0.004076374549941956
        let moments = |values: &[f64]| {
            let mut m = Moments::default();
            values.iter().for_each(|v| m.add(*v));
            m.welch()
        };
        let a = moments(&[4.0, 5.0, 3.0, 4.0, 5.0, 4.0]);
        let b = moments(&[2.0, 3.0, 3.0, 2.0, 4.0, 1.0, 2.0]);
        let welch = stats::welch_test(a, b).unwrap();
        close(welch.statistic, -3.620_255_091_250_551_3);
        close(welch.p_value, 0.004_076_374_549_941_956);
        assert!(welch.significant);
        // 30/50 vs 45/60, pooled: z = 1.6818357317441646, p = 0.09260069782067576
        let z = stats::two_proportion_test(30, 50, 45, 60).unwrap();
        close(z.statistic, 1.681_835_731_744_164_6);
        close(z.p_value, 0.092_600_697_820_675_76);
        assert!(
            stats::two_proportion_test(5, 5, 7, 7).is_none(),
            "no spread"
        );
    }

    fn in_plan(plan: &str, score: i64) -> StoredResponse {
        let mut r = nps_answer(score);
        r.segments.insert("plan".into(), plan.into());
        r
    }

    fn plan_cells(summary: &Summary) -> Vec<(String, Option<Suppression>)> {
        let plan = summary.versions[0]
            .segments
            .iter()
            .find(|d| d.dimension == "plan")
            .unwrap();
        plan.cells
            .iter()
            .map(|c| (c.value.clone(), c.metrics[0].suppressed))
            .collect()
    }

    #[test]
    fn small_cells_are_suppressed_with_their_complement() {
        let mut answers: Vec<_> = (0..12).map(|i| in_plan("a", i % 11)).collect();
        answers.extend((0..15).map(|i| in_plan("b", i % 11)));
        answers.extend((0..3).map(|i| in_plan("c", i)));
        let summary = fold(&answers);
        assert_eq!(
            plan_cells(&summary),
            [
                ("a".into(), Some(Suppression::Complementary)),
                ("b".into(), None),
                ("c".into(), Some(Suppression::MinN)),
            ]
        );
        let c = &summary.versions[0]
            .segments
            .iter()
            .find(|d| d.dimension == "plan")
            .unwrap()
            .cells[2];
        assert_eq!(
            (c.responses, c.metrics[0].score, c.metrics[0].n),
            (None, None, None)
        );
        answers.extend((0..4).map(|i| in_plan("d", i)));
        let two_small = plan_cells(&fold(&answers));
        assert_eq!(two_small[0].1, None, "two hidden cells protect each other");
    }

    #[test]
    fn answers_in_position_fold_as_stored_answers_do() {
        let survey = survey();
        let responses: Vec<StoredResponse> = (0..40)
            .map(|i| {
                let at = format!("2026-{:02}-0{}T00:00:00Z", 1 + i % 3, 1 + i % 7);
                let mut answers = vec![("rec", AnswerValue::Number(i % 11))];
                if i % 4 != 0 {
                    answers.push(("sat", AnswerValue::Number(1 + i % 5)));
                }
                answers.push((
                    "ok",
                    AnswerValue::word(if i % 3 == 0 { "yes" } else { "no" }),
                ));
                response(2, &at, &answers)
            })
            .collect();
        let mut by_position = Fold::new(&survey, Period::Month);
        for r in &responses {
            let answers: Vec<Option<AnswerValue>> = survey
                .questions
                .iter()
                .map(|q| r.answers.get(&q.id).cloned())
                .collect();
            by_position.add_view(&ResponseView {
                version: r.version,
                channel: &r.channel,
                rule: r.rule.as_deref(),
                locale: r.locale.as_deref(),
                submitted_at: &r.submitted_at,
                segments: &r.segments,
                answers: answers.as_slice(),
            });
        }
        assert_eq!(by_position.finish(&BTreeMap::new(), 10), fold(&responses));
    }

    #[test]
    fn response_rates_count_a_rule_s_answers_over_the_people_it_reached() {
        let mut answers: Vec<_> = (0..3).map(nps_answer).collect();
        let mut imported = nps_answer(9);
        imported.rule = None;
        answers.push(imported);
        let mut fold = Fold::new(&survey(), Period::Month);
        answers.iter().for_each(|r| fold.add(r));
        let delivered = BTreeMap::from([((2, "r".to_string()), 12), ((1, "r".to_string()), 5)]);
        let mut summary = fold.finish(&delivered, 10);
        summary.list_rules(["r", "later"]);
        let rates: Vec<_> = summary.versions[0]
            .response_rates
            .iter()
            .map(|r| (r.rule.as_str(), r.responses, r.delivered, r.rate))
            .collect();
        assert_eq!(rates, [("later", 0, 0, None), ("r", 3, 12, Some(25.0))]);
        assert_eq!(summary.versions[0].responses, 4, "the imported one apart");
    }

    #[test]
    fn weeks_and_months() {
        assert_eq!(period_of("2026-09-02T05:08:00Z", Period::Month), "2026-09");
        // 2027-01-01 is a Friday of ISO week 53 of 2026.
        assert_eq!(period_of("2027-01-01T00:00:00Z", Period::Week), "2026-W53");
    }
}
