//! The charts: plain SVG with a `<title>` and a `<desc>` for screen readers, in mid-tone
//! colours and a text colour that follows the reader's light or dark theme, so they stay
//! legible on GitHub either way.

use std::fmt::Write as _;

use crate::model::{AnswerValue, MetricKind, QuestionType};
use crate::render::escape_html;
use crate::score::stats::Interval;
use crate::score::{Distribution, NpsGroup, NpsGroups, NpsShares, TrendPoint};

const WIDTH: f64 = 640.0;
const STYLE: &str = "<style>text{font:12px -apple-system,BlinkMacSystemFont,\"Segoe UI\",\
Helvetica,Arial,sans-serif;fill:#57606a}.axis{stroke:#8c959f;stroke-width:1}\
.grid{stroke:#8c959f;stroke-width:1;stroke-opacity:.3}.title{font-size:14px;font-weight:600}\
@media (prefers-color-scheme:dark){text{fill:#9198a1}}</style>";
const BAR: &str = "#4c8ee8";
const DETRACTORS: &str = "#e5534b";
const PASSIVES: &str = "#9198a1";
const PROMOTERS: &str = "#3fa35c";

/// The room a chart's visible title takes above its drawing.
const TITLE_HEIGHT: f64 = 24.0;

/// Opens a chart of `height` (below its title) with its title shown and, for screen
/// readers, in `<title>` with the values in `<desc>`; the drawing is moved down under the
/// title, so each chart draws from y = 0.
fn open(height: f64, title: &str, desc: &str) -> String {
    let total = height + TITLE_HEIGHT;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{total}\" \
         viewBox=\"0 0 {WIDTH} {total}\" role=\"img\" aria-labelledby=\"title desc\">\n\
         <title id=\"title\">{0}</title>\n<desc id=\"desc\">{1}</desc>\n{STYLE}\n\
         <text class=\"title\" x=\"20\" y=\"17\">{0}</text>\n\
         <g transform=\"translate(0 {TITLE_HEIGHT})\">\n",
        escape_html(title),
        escape_html(desc)
    )
}

/// Closes what [`open`] opened.
fn close(svg: &mut String) {
    svg.push_str("</g>\n</svg>\n");
}

/// The distribution of a question's answers as bars.
pub fn distribution(d: &Distribution) -> String {
    let height = 220.0;
    let counts: Vec<String> = d
        .counts
        .iter()
        .map(|c| format!("{}: {}", c.label, c.count))
        .collect();
    let mut svg = open(
        height,
        &format!("{} (n = {})", d.text, d.n),
        &format!("How many answers gave each value. {}.", counts.join(", ")),
    );
    let max = d.counts.iter().map(|c| c.count).max().unwrap_or(0).max(1) as f64;
    let slot = (WIDTH - 40.0) / d.counts.len().max(1) as f64;
    let (top, bottom) = (20.0, height - 30.0);
    for (i, c) in d.counts.iter().enumerate() {
        let x = 20.0 + slot * i as f64;
        let h = (bottom - top) * c.count as f64 / max;
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + slot * 0.1,
            bottom - h,
            slot * 0.8,
            bar_colour(d.kind, &c.value),
            x + slot / 2.0,
            bottom - h - 4.0,
            c.count,
            x + slot / 2.0,
            bottom + 16.0,
            escape_html(&short_label(&c.label, slot))
        );
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"20\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>",
        WIDTH - 20.0
    );
    close(&mut svg);
    svg
}

/// NPS answers in the colours every NPS chart uses (detractors red, passives grey,
/// promoters green); any other answer in the one bar colour.
fn bar_colour(kind: QuestionType, value: &AnswerValue) -> &'static str {
    match (kind, value) {
        (QuestionType::Nps, AnswerValue::Number(n)) => match NpsGroup::of(*n) {
            NpsGroup::Detractor => DETRACTORS,
            NpsGroup::Passive => PASSIVES,
            NpsGroup::Promoter => PROMOTERS,
        },
        _ => BAR,
    }
}

/// A bar's label cut to the room under it (about 6.5 px a character); the whole label is
/// in the chart's description.
fn short_label(label: &str, room: f64) -> String {
    let fits = ((room / 6.5) as usize).max(3);
    if label.chars().count() <= fits {
        return label.to_string();
    }
    let cut: String = label.chars().take(fits - 1).collect();
    format!("{}…", cut.trim_end())
}

/// NPS groups as one stacked bar: detractors, passives, promoters, each with its share
/// and the people counted.
pub fn nps_bar(name: &str, shares: &NpsShares, counts: &NpsGroups) -> String {
    let groups = [
        (
            "Detractors",
            "0–6",
            shares.detractors,
            counts.detractors,
            DETRACTORS,
        ),
        (
            "Passives",
            "7–8",
            shares.passives,
            counts.passives,
            PASSIVES,
        ),
        (
            "Promoters",
            "9–10",
            shares.promoters,
            counts.promoters,
            PROMOTERS,
        ),
    ];
    let desc: Vec<String> = groups
        .iter()
        .map(|(label, points, share, count, _)| format!("{label} ({points}): {count}, {share:.1}%"))
        .collect();
    let mut svg = open(
        70.0,
        &format!("{name}: detractors, passives and promoters"),
        &desc.join("; "),
    );
    let mut x = 20.0;
    let width = WIDTH - 40.0;
    for (i, (label, points, share, count, colour)) in groups.into_iter().enumerate() {
        let w = width * share / 100.0;
        // The legend has a place of its own per group, so a thin segment's label cannot
        // run into its neighbour's.
        let legend = 20.0 + width / 3.0 * i as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"10\" width=\"{w:.1}\" height=\"24\" fill=\"{colour}\"/>\
             <rect x=\"{legend:.1}\" y=\"43\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"52\">{label} ({points}): {share:.0}%, {count}</text>",
            legend + 14.0
        );
        x += w;
    }
    close(&mut svg);
    svg
}

/// A metric's score per period as a line with its 95% interval as a band.
pub fn trend(
    name: &str,
    period: &str,
    kind: MetricKind,
    points: &[TrendPoint],
    metric: usize,
) -> String {
    let height = 220.0;
    let values: Vec<(usize, f64, Option<Interval>)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let m = &p.metrics[metric];
            Some((i, m.score?, m.interval))
        })
        .collect();
    let desc: Vec<String> = points
        .iter()
        .map(|p| {
            let score = p.metrics[metric].score;
            format!("{}: {}", p.period, crate::score::format_score(kind, score))
        })
        .collect();
    let mut svg = open(
        height,
        &format!("{name} by {period}, with its 95% interval"),
        &format!(
            "The score per period with its 95% interval. {}.",
            desc.join(", ")
        ),
    );
    let (lo, hi, tick) = axis(kind, &values);
    let (left, right, top, bottom) = (50.0, WIDTH - 30.0, 15.0, height - 30.0);
    // Each period in the middle of a slot of its own: the first point clear of the value
    // axis and its labels, a lone period in the middle of the chart.
    let slot = (right - left) / points.len().max(1) as f64;
    let x = |i: usize| left + slot * (i as f64 + 0.5);
    let y = |v: f64| bottom - (bottom - top) * (v - lo) / (hi - lo);
    let banded: Vec<(usize, Interval)> = values
        .iter()
        .filter_map(|(i, _, iv)| Some((*i, (*iv)?)))
        .collect();
    if let [(i, iv)] = banded.as_slice() {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{BAR}\" \
             stroke-opacity=\"0.5\" stroke-width=\"8\"/>",
            x(*i),
            y(iv.high),
            y(iv.low)
        );
    }
    if banded.len() >= 2 {
        let upper = banded
            .iter()
            .map(|(i, iv)| format!("{:.1},{:.1}", x(*i), y(iv.high)));
        let lower = banded
            .iter()
            .rev()
            .map(|(i, iv)| format!("{:.1},{:.1}", x(*i), y(iv.low)));
        let polygon: Vec<String> = upper.chain(lower).collect();
        let _ = writeln!(
            svg,
            "<polygon points=\"{}\" fill=\"{BAR}\" fill-opacity=\"0.25\"/>",
            polygon.join(" ")
        );
    }
    let line: Vec<String> = values
        .iter()
        .map(|(i, s, _)| format!("{:.1},{:.1}", x(*i), y(*s)))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{BAR}\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    for (i, s, _) in &values {
        let _ = writeln!(
            svg,
            "<circle cx=\"{0:.1}\" cy=\"{1:.1}\" r=\"3\" fill=\"{BAR}\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>",
            x(*i),
            y(*s),
            y(*s) - 8.0,
            crate::score::format_score(kind, Some(*s))
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            bottom + 18.0,
            escape_html(&p.period)
        );
    }
    let ticks = ((hi - lo) / tick).round() as usize;
    for t in 0..=ticks {
        let v = lo + tick * t as f64;
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{0:.1}\" x2=\"{right}\" y2=\"{0:.1}\"/>\
             <text x=\"{1:.1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(v),
            left - 6.0,
            y(v) + 4.0,
            axis_label(kind, v)
        );
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>"
    );
    close(&mut svg);
    svg
}

/// The value axis: the scores and their intervals rounded out to a round step (10 points
/// for NPS and percentages, half a point for means), within the metric's possible range,
/// so the line fills the chart and its ticks read as round numbers.
fn axis(kind: MetricKind, values: &[(usize, f64, Option<Interval>)]) -> (f64, f64, f64) {
    let (floor, ceiling, step) = match kind {
        MetricKind::Nps => (-100.0, 100.0, 10.0),
        MetricKind::TopBox | MetricKind::Weighted => (0.0, 100.0, 10.0),
        MetricKind::Mean => (f64::MIN, f64::MAX, 0.5),
    };
    let (low, high) = values
        .iter()
        .flat_map(|(_, s, iv)| [Some(*s), iv.map(|i| i.low), iv.map(|i| i.high)])
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    if low > high {
        return (floor.max(0.0), floor.max(0.0) + step, step);
    }
    let mut lo = ((low / step).floor() * step).max(floor);
    let mut hi = ((high / step).ceil() * step).min(ceiling);
    if hi - lo < step {
        (lo, hi) = ((lo - step).max(floor), (hi + step).min(ceiling));
    }
    // At most about six ticks: widen the step on a tall axis.
    let step = step * ((hi - lo) / step / 6.0).ceil().max(1.0);
    (
        lo,
        (lo + ((hi - lo) / step).ceil() * step).min(ceiling),
        step,
    )
}

/// A tick's label: whole points and percentages, means to one decimal.
fn axis_label(kind: MetricKind, v: f64) -> String {
    match kind {
        MetricKind::Nps => format!("{v:+.0}"),
        MetricKind::Mean => format!("{v:.1}"),
        _ => format!("{v:.0}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_from_the_survey_and_the_answers_are_escaped_in_a_chart() {
        let chart = distribution(&Distribution {
            question: "channel".into(),
            text: "Tom's <b>\"best\"</b> & more".into(),
            kind: QuestionType::Choice,
            n: 1,
            counts: vec![crate::score::ValueCount {
                value: AnswerValue::word("x"),
                label: "<script>".into(),
                count: 1,
            }],
        });
        assert!(
            !chart.contains("<b>") && !chart.contains("<script>"),
            "{chart}"
        );
        assert!(
            chart.contains("Tom&#39;s &lt;b&gt;&quot;best&quot;&lt;/b&gt; &amp; more"),
            "{chart}"
        );
        assert!(chart.contains("&lt;script&gt;"), "{chart}");
    }
}
