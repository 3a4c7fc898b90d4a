//! The statistics behind the scores: intervals, significance tests and the normal and
//! Student's t distributions they need, implemented here so the numbers do not depend
//! on a heavy numerical crate. Every function returns `None` where the quantity cannot
//! be computed (no answers, no spread) instead of a NaN or a zero-width interval.

use serde::Serialize;

/// The two-sided 95% quantile of the standard normal distribution, z₀.₉₇₅.
pub const Z95: f64 = 1.959_963_984_540_054;
/// The level of every interval and test.
pub const CONFIDENCE: f64 = 0.95;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
}

/// The outcome of a test that two periods differ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Test {
    /// The test's name: `z` or `welch_t`.
    pub test: &'static str,
    /// The statistic (z or t).
    pub statistic: f64,
    /// The two-sided p-value.
    pub p_value: f64,
    /// Whether p < 0.05.
    pub significant: bool,
}

impl Test {
    fn new(test: &'static str, statistic: f64, p_value: f64) -> Test {
        Test {
            test,
            statistic,
            p_value,
            significant: p_value < 1.0 - CONFIDENCE,
        }
    }
}

/// The Wilson score interval for `hits` out of `n`, in [0, 1]; `None` when n = 0.
/// Unlike the Wald interval it stays inside [0, 1] and is honest at 0% and 100%.
pub fn wilson(hits: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The standard error of an NPS as a fraction (−1…1) from the shares of promoters `p` and
/// detractors `d` among `n` answers: the per-answer score is +1, 0 or −1, so its variance
/// is p + d − (p − d)². `None` when n = 0 or the answers have no spread.
pub fn nps_standard_error(p: f64, d: f64, n: u64) -> Option<f64> {
    let variance = (p + d - (p - d).powi(2)).max(0.0);
    (n > 0 && variance > 0.0).then(|| (variance / n as f64).sqrt())
}

/// The Wald interval score ± z·SE, clipped to [lo, hi].
pub fn wald(score: f64, se: f64, lo: f64, hi: f64) -> Interval {
    Interval {
        low: (score - Z95 * se).max(lo),
        high: (score + Z95 * se).min(hi),
    }
}

/// The t interval of a mean with sample variance `variance` over `n` answers; `None` for
/// n < 2 or no spread.
pub fn t_interval(mean: f64, variance: f64, n: u64) -> Option<Interval> {
    if n < 2 || variance <= 0.0 {
        return None;
    }
    let half = t_quantile_two_sided(n as f64 - 1.0) * (variance / n as f64).sqrt();
    Some(Interval {
        low: mean - half,
        high: mean + half,
    })
}

/// A z test that two estimates with standard errors differ (used for NPS).
pub fn z_test(a: f64, se_a: f64, b: f64, se_b: f64) -> Option<Test> {
    let se = (se_a * se_a + se_b * se_b).sqrt();
    (se > 0.0).then(|| {
        let z = (b - a) / se;
        Test::new("z", z, 2.0 * normal_sf(z.abs()))
    })
}

/// The two-proportion z test with the pooled share (used for top-box shares).
pub fn two_proportion_test(hits_a: u64, n_a: u64, hits_b: u64, n_b: u64) -> Option<Test> {
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let pooled = (hits_a + hits_b) as f64 / (n_a + n_b) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a as f64 + 1.0 / n_b as f64)).sqrt();
    (se > 0.0).then(|| {
        let z = (hits_b as f64 / n_b as f64 - hits_a as f64 / n_a as f64) / se;
        Test::new("z", z, 2.0 * normal_sf(z.abs()))
    })
}

/// Welch's t test that two means differ (unequal variances), with the
/// Welch–Satterthwaite degrees of freedom.
pub fn welch_test(a: (f64, f64, u64), b: (f64, f64, u64)) -> Option<Test> {
    let ((mean_a, var_a, n_a), (mean_b, var_b, n_b)) = (a, b);
    if n_a < 2 || n_b < 2 {
        return None;
    }
    let (qa, qb) = (var_a / n_a as f64, var_b / n_b as f64);
    let se2 = qa + qb;
    if se2 <= 0.0 {
        return None;
    }
    let df = se2 * se2 / (qa * qa / (n_a as f64 - 1.0) + qb * qb / (n_b as f64 - 1.0));
    let t = (mean_b - mean_a) / se2.sqrt();
    Some(Test::new("welch_t", t, t_two_sided_p(t, df)))
}

/// P(Z > x) for the standard normal.
pub fn normal_sf(x: f64) -> f64 {
    if x >= 0.0 {
        0.5 * gamma_q(0.5, x * x / 2.0)
    } else {
        1.0 - 0.5 * gamma_q(0.5, x * x / 2.0)
    }
}

/// The two-sided p-value of a t statistic with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    beta_regularized(df / (df + t * t), df / 2.0, 0.5)
}

/// The t value with a two-sided tail of 1 − [`CONFIDENCE`] (t₀.₉₇₅ for `df`), by
/// bisection on the distribution function.
pub fn t_quantile_two_sided(df: f64) -> f64 {
    let target = 1.0 - CONFIDENCE;
    let (mut lo, mut hi) = (0.0_f64, 16.0_f64);
    while t_two_sided_p(hi, df) > target {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if t_two_sided_p(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7), accurate to about 1e-15.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized upper incomplete gamma function Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let prefix = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * prefix
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let (mut c, mut d) = (1.0 / tiny, 1.0 / b);
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < tiny { tiny } else { d };
            c = b + an / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        prefix * h
    }
}

/// The regularized incomplete beta function I_x(a, b).
fn beta_regularized(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    let tiny = 1e-300;
    let clamp = |v: f64| if v.abs() < tiny { tiny } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / clamp(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / clamp(1.0 + even * d);
        c = clamp(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / clamp(1.0 + odd * d);
        c = clamp(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    //! Reference values from SciPy 1.17 (`scipy.stats`), computed independently:
    //! `norm.sf`, `t.ppf(0.975, df)`, `2 * t.sf(abs(t), df)`, and for the intervals and
    //! tests the formulas typed out in Python (shown beside each vector).
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn distributions_match_scipy() {
        // norm.sf(1.0) = 0.15865525393145707, norm.sf(3.5) = 0.00023262907903552504
        close(normal_sf(1.0), 0.158_655_253_931_457_07, 1e-14);
        close(normal_sf(3.5), 2.326_290_790_355_250_4e-4, 1e-16);
        close(normal_sf(-1.0), 0.841_344_746_068_542_9, 1e-14);
        close(normal_sf(Z95), 0.025, 1e-15);
        // t.ppf(0.975, [1, 2, 9, 30, 1000])
        for (df, expected) in [
            (1.0, 12.706_204_736_174_698),
            (2.0, 4.302_652_729_749_464),
            (9.0, 2.262_157_162_798_205),
            (30.0, 2.042_272_456_301_238),
            (1000.0, 1.962_339_080_826_408_3),
        ] {
            close(t_quantile_two_sided(df), expected, 1e-10);
        }
        // 2 * t.sf(2.5, 7.3) = 0.03965023466560043
        close(t_two_sided_p(2.5, 7.3), 0.039_650_234_665_600_43, 1e-12);
    }
}
