//! Pooling storm runs: every round of every run kept with `storm --keep-in DIR`, storms
//! and A/A rounds apart, with the mean, its 95 % confidence interval, and the difference
//! between the two. One run's three rounds cannot place a storm within a few points on a
//! machine whose A/A rounds spread by ±10 %; many runs together can say how far they do.

use std::path::Path;

use serde_json::{Value, json};

/// Rounds of one kind: each storm's throughput against its steady neighbours.
#[derive(Debug, Default)]
pub struct Rounds {
    pub runs: usize,
    pub ratios: Vec<f64>,
}

impl Rounds {
    pub fn mean(&self) -> f64 {
        self.ratios.iter().sum::<f64>() / self.ratios.len() as f64
    }

    /// The variance of one round (n − 1 in the denominator).
    fn variance(&self) -> f64 {
        let m = self.mean();
        let n = self.ratios.len() as f64;
        self.ratios.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (n - 1.0)
    }

    /// Half the width of the 95 % confidence interval of the mean.
    pub fn half_ci(&self) -> f64 {
        let n = self.ratios.len();
        t975(n.saturating_sub(1)) * (self.variance() / n as f64).sqrt()
    }
}

/// The storm rounds and the A/A rounds found in the run files of `dir`.
pub fn read(dir: &Path) -> anyhow::Result<(Rounds, Rounds)> {
    let (mut storms, mut aa) = (Rounds::default(), Rounds::default());
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let run: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let rounds = run["storm_vs_steady_by_round"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("{}: not a storm run", path.display()))?;
        let kind = match run["storm"].as_bool() {
            Some(true) => &mut storms,
            _ => &mut aa,
        };
        kind.runs += 1;
        kind.ratios.extend(rounds.iter().filter_map(Value::as_f64));
    }
    anyhow::ensure!(
        storms.ratios.len() >= 2 && aa.ratios.len() >= 2,
        "{}: needs at least two storm rounds and two A/A rounds",
        dir.display()
    );
    Ok((storms, aa))
}

/// Storms against A/A: the mean of each, and the difference with its 95 % interval (Welch).
pub fn summary(storms: &Rounds, aa: &Rounds) -> Value {
    let (vs, va) = (
        storms.variance() / storms.ratios.len() as f64,
        aa.variance() / aa.ratios.len() as f64,
    );
    let df = (vs + va).powi(2)
        / (vs.powi(2) / (storms.ratios.len() - 1) as f64
            + va.powi(2) / (aa.ratios.len() - 1) as f64);
    let diff = storms.mean() - aa.mean();
    let half = t975(df.floor() as usize) * (vs + va).sqrt();
    let kind = |r: &Rounds| json!({"runs": r.runs, "rounds": r.ratios.len(), "mean": r.mean(), "ci95": [r.mean() - r.half_ci(), r.mean() + r.half_ci()]});
    json!({
        "storm": kind(storms), "a_a": kind(aa),
        "storm_minus_a_a": diff, "storm_minus_a_a_ci95": [diff - half, diff + half],
    })
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_a_known_sample() {
        let r = Rounds {
            runs: 1,
            ratios: vec![0.9, 1.0, 1.1, 1.0],
        };
        assert!((r.mean() - 1.0).abs() < 1e-12);
        // sd = 0.0816, se = 0.0408, t(3) = 3.182
        assert!((r.half_ci() - 0.1299).abs() < 1e-3, "{}", r.half_ci());
        let same = summary(&r, &r);
        assert_eq!(same["storm_minus_a_a"], 0.0);
    }
}
