//! Compact time series of one endpoint's scrapes: per series a vector of
//! timestamps and of values (histograms: count, sum and one value per
//! bucket), never the raw text. Bounded: a cap on series per endpoint and on
//! stored values overall; what does not fit is dropped and reported.

use super::prom::{Exposition, Kind, Labels, Value};
use std::collections::HashMap;

/// New series beyond this many per endpoint are not stored.
pub(crate) const MAX_SERIES: usize = 20_000;
/// Stored numbers (timestamps + values) per endpoint; about 8 bytes each,
/// so 64 Mi numbers ≈ 512 MiB at worst. A 30-minute run at 3 scrapes a
/// second with 2,000 scalar series stores ≈ 21 Mi.
pub(crate) const MAX_VALUES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct FamilyMeta {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) help: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Points {
    pub(crate) ts: Vec<u64>,
    /// Scalars: one value per timestamp. Histograms: count, sum, then the
    /// cumulative bucket counts, `stride` values per timestamp.
    pub(crate) values: Vec<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredSeries {
    pub(crate) family: usize,
    pub(crate) labels: Labels,
    /// Histogram bucket bounds (`le` as written); empty for scalars.
    pub(crate) les: Vec<String>,
    pub(crate) points: Points,
}

impl StoredSeries {
    /// Values per timestamp.
    pub(crate) fn stride(&self) -> usize {
        if self.les.is_empty() {
            1
        } else {
            self.les.len().saturating_add(2)
        }
    }

    pub(crate) fn row(&self, i: usize) -> &[f64] {
        let s = self.stride();
        let start = i.saturating_mul(s);
        self.points
            .values
            .get(start..start.saturating_add(s))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub(crate) families: Vec<FamilyMeta>,
    family_index: HashMap<String, usize>,
    pub(crate) series: Vec<StoredSeries>,
    series_index: HashMap<(usize, Labels), usize>,
    values: usize,
    /// Samples not stored (series cap, value cap, kind or bucket changes).
    pub(crate) dropped: u64,
}

impl Store {
    /// Adds one scrape taken at `ts`.
    pub(crate) fn add(&mut self, ts: u64, exposition: Exposition) {
        for family in exposition.families {
            let fam = match self.family_index.get(&family.name) {
                Some(&i) => i,
                None => {
                    let i = self.families.len();
                    self.family_index.insert(family.name.clone(), i);
                    self.families.push(FamilyMeta {
                        name: family.name,
                        kind: family.kind,
                        help: family.help,
                    });
                    i
                }
            };
            let kind = self.families.get(fam).map(|f| f.kind);
            if kind != Some(family.kind) {
                self.dropped = self.dropped.saturating_add(family.series.len() as u64);
                continue;
            }
            for s in family.series {
                self.add_series(fam, ts, s.labels, s.value);
            }
        }
    }

    fn add_series(&mut self, fam: usize, ts: u64, labels: Labels, value: Value) {
        let (les, row): (Vec<String>, Vec<f64>) = match value {
            Value::Scalar(v) => (Vec::new(), vec![v]),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut row = Vec::with_capacity(buckets.len().saturating_add(2));
                row.push(count);
                row.push(sum);
                let mut les = Vec::with_capacity(buckets.len());
                for (le, c) in buckets {
                    les.push(le);
                    row.push(c);
                }
                (les, row)
            }
        };
        let key = (fam, labels);
        let idx = match self.series_index.get(&key) {
            Some(&i) => i,
            None => {
                if self.series.len() >= MAX_SERIES {
                    self.dropped = self.dropped.saturating_add(1);
                    return;
                }
                let i = self.series.len();
                self.series.push(StoredSeries {
                    family: fam,
                    labels: key.1.clone(),
                    les: les.clone(),
                    points: Points::default(),
                });
                self.series_index.insert(key, i);
                i
            }
        };
        let Some(series) = self.series.get_mut(idx) else {
            return;
        };
        if series.les != les || self.values.saturating_add(row.len()).saturating_add(1) > MAX_VALUES
        {
            // A histogram whose buckets changed is a different histogram; the
            // comparison over time would be meaningless.
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        if series.points.ts.last().is_some_and(|&last| last >= ts) {
            return;
        }
        self.values = self.values.saturating_add(row.len()).saturating_add(1);
        series.points.ts.push(ts);
        series.points.values.extend_from_slice(&row);
    }
}

#[cfg(test)]
mod tests {
    use super::super::prom::{parse, Limits};
    use super::*;

    #[test]
    fn stores_rows_per_series() {
        let mut s = Store::default();
        let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n\
                    # TYPE c_total counter\nc_total{a=\"x\"} 5\n";
        s.add(10, parse(text, Limits::default()).unwrap());
        s.add(20, parse(text, Limits::default()).unwrap());
        s.add(20, parse(text, Limits::default()).unwrap()); // same instant: ignored
        assert_eq!(s.series.len(), 2);
        let h = &s.series[0];
        assert_eq!(h.les, vec!["1", "+Inf"]);
        assert_eq!(h.points.ts, vec![10, 20]);
        assert_eq!(h.row(1), &[2.0, 3.0, 1.0, 2.0]);
        assert_eq!(s.series[1].row(0), &[5.0]);
        assert_eq!(s.families[1].name, "c");
    }

    #[test]
    fn changed_buckets_are_dropped() {
        let mut s = Store::default();
        s.add(
            1,
            parse(
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",
                Limits::default(),
            )
            .unwrap(),
        );
        s.add(
            2,
            parse(
                "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_count 1\n",
                Limits::default(),
            )
            .unwrap(),
        );
        assert_eq!(s.series[0].points.ts, vec![1]);
        assert_eq!(s.dropped, 1);
    }
}
