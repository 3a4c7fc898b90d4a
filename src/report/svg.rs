//! The charts: plain SVG with a `<title>` and a `<desc>` for screen readers, in mid-tone
//! colours and a text colour that follows the reader's light or dark theme, so they stay
//! legible on GitHub either way.

use std::fmt::Write as _;

use crate::model::MetricKind;
use crate::score::stats::Interval;
use crate::score::{Distribution, NpsShares, TrendPoint};

const WIDTH: f64 = 640.0;
const STYLE: &str = "<style>text{font:12px -apple-system,BlinkMacSystemFont,\"Segoe UI\",\
Helvetica,Arial,sans-serif;fill:#57606a}.axis{stroke:#8c959f;stroke-width:1}\
@media (prefers-color-scheme:dark){text{fill:#9198a1}}</style>";
const BAR: &str = "#4c8ee8";
const DETRACTORS: &str = "#e5534b";
const PASSIVES: &str = "#9198a1";
const PROMOTERS: &str = "#3fa35c";

fn open(height: f64, title: &str, desc: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"title desc\">\n\
         <title id=\"title\">{}</title>\n<desc id=\"desc\">{}</desc>\n{STYLE}\n",
        escape(title),
        escape(desc)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The distribution of a question's answers as bars.
pub fn distribution(d: &Distribution) -> String {
    let height = 220.0;
    let counts: Vec<String> = d
        .counts
        .iter()
        .map(|c| format!("{}: {}", c.value, c.count))
        .collect();
    let mut svg = open(
        height,
        &format!("Answers to {} (n = {})", d.question, d.n),
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
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{BAR}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + slot * 0.1,
            bottom - h,
            slot * 0.8,
            x + slot / 2.0,
            bottom - h - 4.0,
            c.count,
            x + slot / 2.0,
            bottom + 16.0,
            escape(&c.value.to_string())
        );
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"20\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>\n</svg>",
        WIDTH - 20.0
    );
    svg
}

/// NPS groups as one stacked bar: detractors, passives, promoters.
pub fn nps_bar(name: &str, shares: &NpsShares) -> String {
    let groups = [
        ("Detractors (0–6)", shares.detractors, DETRACTORS),
        ("Passives (7–8)", shares.passives, PASSIVES),
        ("Promoters (9–10)", shares.promoters, PROMOTERS),
    ];
    let desc: Vec<String> = groups
        .iter()
        .map(|(label, share, _)| format!("{label}: {share:.1}%"))
        .collect();
    let mut svg = open(
        70.0,
        &format!("{name}: detractors, passives and promoters"),
        &desc.join("; "),
    );
    let mut x = 20.0;
    let width = WIDTH - 40.0;
    for (label, share, colour) in groups {
        let w = width * share / 100.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"10\" width=\"{w:.1}\" height=\"24\" fill=\"{colour}\"/>"
        );
        if w > 0.0 {
            let _ = writeln!(
                svg,
                "<text x=\"{x:.1}\" y=\"52\">{} {share:.0}%</text>",
                escape(label.split(' ').next().unwrap_or(label))
            );
        }
        x += w;
    }
    svg.push_str("</svg>\n");
    svg
}

/// A metric's score per period as a line with its 95% interval as a band.
pub fn trend(name: &str, kind: MetricKind, points: &[TrendPoint], metric: usize) -> String {
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
            format!("{}: {}", p.period, crate::report::format_score(kind, score))
        })
        .collect();
    let mut svg = open(
        height,
        &format!("{name} by period"),
        &format!(
            "The score per period with its 95% interval. {}.",
            desc.join(", ")
        ),
    );
    let (lo, hi) = match kind {
        MetricKind::Nps => (-100.0, 100.0),
        MetricKind::TopBox | MetricKind::Weighted => (0.0, 100.0),
        MetricKind::Mean => values
            .iter()
            .flat_map(|(_, s, iv)| [Some(*s), iv.map(|i| i.low), iv.map(|i| i.high)])
            .flatten()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x))),
    };
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let (left, right, top, bottom) = (50.0, WIDTH - 30.0, 15.0, height - 30.0);
    let step = (right - left) / (points.len().max(2) - 1) as f64;
    let x = |i: usize| left + step * i as f64;
    let y = |v: f64| bottom - (bottom - top) * (v - lo) / (hi - lo);
    let banded: Vec<(usize, Interval)> = values
        .iter()
        .filter_map(|(i, _, iv)| Some((*i, (*iv)?)))
        .collect();
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
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{BAR}\"/>",
            x(*i),
            y(*s)
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            bottom + 18.0,
            escape(&p.period)
        );
    }
    for v in [lo, hi] {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y(v) + 4.0,
            crate::report::format_score(kind, Some(v))
        );
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>\n</svg>"
    );
    svg
}
