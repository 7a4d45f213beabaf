//! Pooling storm runs: every round of every run kept with `storm --keep-in DIR` (or
//! `storm-cpu --keep-in DIR`, or saved together in one file by `storm-pool --save`), storms
//! and A/A rounds apart, with the mean, its 95 %
//! confidence interval, and the difference between the two. One run's rounds cannot place
//! a storm within a few points on a machine whose A/A rounds spread by ±10 %; many runs
//! together can say how far they do. `storm-cpu` runs are pooled twice: the whole machine's
//! CPU, and the fleet's own (the broker's and the workers'), without the harness beside it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// What each round of the runs in a directory measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `storm`: the storm's throughput over its steady neighbours' (a ratio).
    Throughput,
    /// `storm-cpu`: the machine's busy CPU in the storm less its neighbours' (ms/s).
    MachineCpu,
}

impl Measure {
    fn field(self) -> &'static str {
        match self {
            Measure::Throughput => "storm_vs_steady_by_round",
            Measure::MachineCpu => "storm_extra_machine_ms_per_s_by_round",
        }
    }

    fn of(run: &Value) -> Option<Measure> {
        [Measure::Throughput, Measure::MachineCpu]
            .into_iter()
            .find(|m| run[m.field()].is_array())
    }

    /// A value as printed: a ratio in %, CPU in ms/s.
    fn show(self, v: f64) -> String {
        match self {
            Measure::Throughput => format!("{:.1} %", 100.0 * v),
            Measure::MachineCpu => format!("{v:.1} ms/s"),
        }
    }
}

/// Rounds of one kind (storms, or A/A), one value each.
#[derive(Debug, Default)]
pub struct Rounds {
    pub runs: usize,
    pub values: Vec<f64>,
}

impl Rounds {
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }

    /// The variance of one round (n − 1 in the denominator).
    fn variance(&self) -> f64 {
        let m = self.mean();
        let n = self.values.len() as f64;
        self.values.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (n - 1.0)
    }

    /// Half the width of the 95 % confidence interval of the mean.
    pub fn half_ci(&self) -> f64 {
        let n = self.values.len();
        t975(n.saturating_sub(1)) * (self.variance() / n as f64).sqrt()
    }
}

/// Every round of the runs in one directory, storms and A/A apart.
#[derive(Debug)]
pub struct Pool {
    pub measure: Measure,
    pub storms: Rounds,
    pub aa: Rounds,
    /// `storm-cpu` runs only: the same rounds in the broker's and the workers' CPU alone,
    /// without the harness (the pusher, the job feeder, the site) that shares the machine.
    pub fleet: Option<(Rounds, Rounds)>,
}

/// A `storm-cpu` run's rounds in the CPU of the broker and the workers together.
fn fleet_rounds(run: &Value) -> Option<Vec<f64>> {
    let phases = |field: &str| -> Option<Vec<f64>> {
        run[field].as_array()?.iter().map(Value::as_f64).collect()
    };
    let broker = phases("broker_cpu_ms_per_s_by_phase")?;
    let workers = phases("workers_cpu_ms_per_s_by_phase")?;
    let fleet: Vec<f64> = broker.iter().zip(&workers).map(|(b, w)| b + w).collect();
    Some(crate::storm_cpu::storm_vs_neighbours(&fleet))
}

/// The kept runs at `paths`, by name: each path a directory of run files, as `--keep-in`
/// leaves them, or a pooled file, as `storm-pool --save` writes them (its runs under `runs`).
/// A run found twice is an error, not a double weight.
pub fn runs(paths: &[PathBuf]) -> anyhow::Result<Map<String, Value>> {
    let mut runs = Map::new();
    for path in paths {
        let found: Vec<(String, Value)> = if path.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path)? {
                let file = entry?.path();
                if file.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                found.push((name.into_owned(), read_json(&file)?));
            }
            found
        } else {
            let pooled = read_json(path)?;
            let Some(runs) = pooled["runs"].as_object() else {
                anyhow::bail!(
                    "{}: not a directory of runs nor a pooled file",
                    path.display()
                );
            };
            runs.clone().into_iter().collect()
        };
        for (name, run) in found {
            anyhow::ensure!(
                runs.insert(name.clone(), run).is_none(),
                "{name}: the same run twice in {}",
                path.display()
            );
        }
    }
    Ok(runs)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    serde_json::from_slice(&std::fs::read(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The storm rounds and the A/A rounds of `runs` (by name), all of one measure.
pub fn pool(runs: &Map<String, Value>) -> anyhow::Result<Pool> {
    let (mut storms, mut aa) = (Rounds::default(), Rounds::default());
    let (mut fleet_storms, mut fleet_aa) = (Rounds::default(), Rounds::default());
    let mut measure = None;
    for (name, run) in runs {
        let this = Measure::of(run).ok_or_else(|| anyhow::anyhow!("{name}: not a storm run"))?;
        anyhow::ensure!(
            *measure.get_or_insert(this) == this,
            "{name}: runs of two kinds (storm and storm-cpu) pooled together"
        );
        let (kind, fleet) = match run["storm"].as_bool() {
            Some(true) => (&mut storms, &mut fleet_storms),
            _ => (&mut aa, &mut fleet_aa),
        };
        kind.runs += 1;
        let rounds = run[this.field()].as_array().into_iter().flatten();
        kind.values.extend(rounds.filter_map(Value::as_f64));
        if this == Measure::MachineCpu {
            let rounds = fleet_rounds(run)
                .ok_or_else(|| anyhow::anyhow!("{name}: no broker or workers' CPU by phase"))?;
            fleet.runs += 1;
            fleet.values.extend(rounds);
        }
    }
    anyhow::ensure!(
        storms.values.len() >= 2 && aa.values.len() >= 2,
        "needs at least two storm rounds and two A/A rounds"
    );
    let measure = measure.unwrap_or(Measure::Throughput);
    let fleet = (measure == Measure::MachineCpu).then_some((fleet_storms, fleet_aa));
    Ok(Pool {
        measure,
        storms,
        aa,
        fleet,
    })
}

/// What `storm-pool --save` writes: the [`summary`] and every run pooled, by name, so that
/// one file replaces a directory of kept runs (and can be pooled again).
pub fn pooled(summary: &Value, runs: Map<String, Value>) -> Value {
    json!({"summary": summary, "runs": runs})
}

/// The table `storm-pool` prints, from `pool` and its [`summary`].
pub fn print(pool: &Pool, summary: &Value) {
    let measure = pool.measure;
    for (name, k) in [("storms", &pool.storms), ("A/A", &pool.aa)] {
        println!(
            "{name:<7} {:>3} runs {:>3} rounds  mean {:>10}  95 % CI {} to {}",
            k.runs,
            k.values.len(),
            measure.show(k.mean()),
            measure.show(k.mean() - k.half_ci()),
            measure.show(k.mean() + k.half_ci())
        );
    }
    let at = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let difference = |d: &Value| {
        let ci = &d["storm_minus_a_a_ci95"];
        (at(&d["storm_minus_a_a"]), at(&ci[0]), at(&ci[1]))
    };
    let (diff, lo, hi) = difference(summary);
    match measure {
        Measure::Throughput => println!(
            "storms − A/A: {:+.1} points, 95 % CI {:+.1} to {:+.1}",
            100.0 * diff,
            100.0 * lo,
            100.0 * hi
        ),
        Measure::MachineCpu => {
            let cores = crate::cpu::cores();
            let share = |(diff, lo, hi): (f64, f64, f64)| {
                let pc = |v: f64| 100.0 * v / (cores * 1000.0);
                format!(
                    "{diff:+.1} ms/s, 95 % CI {lo:+.1} to {hi:+.1}: {:.2} % of the {cores} cores (CI {:.2} to {:.2} %)",
                    pc(diff),
                    pc(lo),
                    pc(hi)
                )
            };
            println!("storms − A/A: {}", share((diff, lo, hi)));
            if summary["fleet"].is_object() {
                println!(
                    "the broker and the workers alone, storms − A/A: {}",
                    share(difference(&summary["fleet"]))
                );
            }
        }
    }
}

/// What `storm-pool` reports: [`difference`] of the measure, and for `storm-cpu` runs of the
/// broker's and the workers' CPU alone (`fleet`).
pub fn summary(pool: &Pool) -> Value {
    let mut summary = difference(&pool.storms, &pool.aa);
    if let Some((storms, aa)) = &pool.fleet {
        summary["fleet"] = difference(storms, aa);
    }
    summary
}

/// Storms against A/A: the mean of each, and the difference with its 95 % interval (Welch).
pub fn difference(storms: &Rounds, aa: &Rounds) -> Value {
    let (vs, va) = (
        storms.variance() / storms.values.len() as f64,
        aa.variance() / aa.values.len() as f64,
    );
    let df = (vs + va).powi(2)
        / (vs.powi(2) / (storms.values.len() - 1) as f64
            + va.powi(2) / (aa.values.len() - 1) as f64);
    let diff = storms.mean() - aa.mean();
    let half = t975(df.floor() as usize) * (vs + va).sqrt();
    let kind = |r: &Rounds| json!({"runs": r.runs, "rounds": r.values.len(), "mean": r.mean(), "ci95": [r.mean() - r.half_ci(), r.mean() + r.half_ci()]});
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
            values: vec![0.9, 1.0, 1.1, 1.0],
        };
        assert!((r.mean() - 1.0).abs() < 1e-12);
        // sd = 0.0816, se = 0.0408, t(3) = 3.182
        assert!((r.half_ci() - 0.1299).abs() < 1e-3, "{}", r.half_ci());
        let same = difference(&r, &r);
        assert_eq!(same["storm_minus_a_a"], 0.0);
    }

    #[test]
    fn a_storm_cpu_run_is_also_read_in_the_broker_and_workers_cpu_alone() {
        let run = json!({
            "storm_extra_machine_ms_per_s_by_round": [70.0, 90.0],
            "broker_cpu_ms_per_s_by_phase": [100.0, 130.0, 110.0, 150.0, 120.0],
            "workers_cpu_ms_per_s_by_phase": [50.0, 60.0, 50.0, 70.0, 50.0],
        });
        // 150, 190, 160, 220, 170: each storm less the mean of its two neighbours.
        assert_eq!(fleet_rounds(&run), Some(vec![35.0, 55.0]));
        assert_eq!(
            fleet_rounds(&json!({"storm_vs_steady_by_round": [1.0]})),
            None
        );
    }

    #[test]
    fn a_pooled_file_holds_the_runs_of_its_directory_and_none_twice() {
        let dir = std::env::temp_dir().join(format!("bench-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let run = |storm: bool, v: f64| json!({"storm": storm, "storm_vs_steady_by_round": [v, v]});
        std::fs::write(dir.join("1-storm.json"), run(true, 0.9).to_string()).expect("write");
        std::fs::write(dir.join("2-a-a.json"), run(false, 1.0).to_string()).expect("write");
        std::fs::write(dir.join("notes.txt"), "not a run").expect("write");
        let from_dir = runs(std::slice::from_ref(&dir)).expect("the directory's runs");
        assert_eq!(from_dir.len(), 2);
        let summary = summary(&pool(&from_dir).expect("pooled"));
        let file = dir.join("pooled.txt");
        let saved = pooled(&summary, from_dir.clone());
        std::fs::write(&file, saved.to_string()).expect("write");
        assert_eq!(
            runs(std::slice::from_ref(&file)).expect("the file's runs"),
            from_dir
        );
        assert!(runs(&[dir.clone(), file]).is_err(), "the same runs twice");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
