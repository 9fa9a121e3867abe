//! Progress displays. Fine-tuning where there is no terminal (a pipe, CI): one line per epoch
//! with the mean training and validation metrics, instead of burn-train's per-batch debug
//! lines (in a terminal burn-train's own TUI dashboard runs). Pretraining in a terminal: the
//! same TUI dashboard, fed per epoch.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use burn::data::dataloader::Progress;
use burn::train::Interrupter;
use burn::train::metric::{
    MetricDefinition, MetricEntry, MetricId, NumericAttributes, NumericEntry, SerializedEntry,
};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use dbn_model::EpochStats;

/// Weighted sums of one metric over an epoch.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    count: f64,
}

impl Mean {
    fn add(&mut self, entry: &NumericEntry) {
        let (value, count) = match entry {
            NumericEntry::Value(v) => (*v, 1.0),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => (*aggregated_value, *count as f64),
        };
        self.sum += value * count;
        self.count += count;
    }

    fn value(self) -> f64 {
        self.sum / self.count.max(1.0)
    }
}

/// Prints `fine-tune epoch E/N: train Loss x, Accuracy y; valid Loss x, Accuracy y`.
#[derive(Debug, Default)]
pub struct EpochLines {
    names: HashMap<MetricId, String>,
    train: Vec<(MetricId, Mean)>,
    valid: Vec<(MetricId, Mean)>,
}

fn accumulate(means: &mut Vec<(MetricId, Mean)>, state: MetricState) {
    if let MetricState::Numeric(entry, numeric) = state {
        match means.iter_mut().find(|(id, _)| *id == entry.metric_id) {
            Some((_, mean)) => mean.add(&numeric),
            None => {
                let mut mean = Mean::default();
                mean.add(&numeric);
                means.push((entry.metric_id, mean));
            }
        }
    }
}

impl EpochLines {
    fn describe(&self, means: &[(MetricId, Mean)]) -> String {
        means
            .iter()
            .map(|(id, mean)| {
                let name = self.names.get(id).map_or("?", String::as_str);
                format!("{name} {:.4}", mean.value())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, state: MetricState) {
        accumulate(&mut self.train, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        accumulate(&mut self.valid, state);
    }

    fn render_train(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn render_valid(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        let done = item
            .progress
            .as_ref()
            .is_some_and(|p| p.items_processed >= p.items_total);
        if done {
            println!(
                "fine-tune epoch {}/{}: train {}; valid {}",
                item.global_progress.items_processed,
                item.global_progress.items_total,
                self.describe(&self.train),
                self.describe(&self.valid)
            );
            self.train.clear();
            self.valid.clear();
        }
    }
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn render_test(&mut self, _item: EvaluationProgress, _indicators: Vec<ProgressType>) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}

/// Pretraining progress in burn-train's TUI dashboard: per epoch, the reconstruction error
/// (train and validation) and the free-energy gap, with the epoch's and the layer's progress.
/// Pressing `q` asks pretraining to stop after its checkpoint.
pub struct PretrainDashboard {
    tui: TuiMetricsRendererWrapper,
    interrupter: Interrupter,
    n_layers: usize,
}

const RECONSTRUCTION: &str = "Reconstruction error";
const GAP: &str = "Free-energy gap";

fn numeric(name: &str, value: f64) -> MetricState {
    let id = MetricId::new(Arc::new(name.to_string()));
    let entry = SerializedEntry {
        formatted: format!("{value:.4}"),
        serialized: value.to_string(),
    };
    MetricState::Numeric(MetricEntry::new(id, entry), NumericEntry::Value(value))
}

impl PretrainDashboard {
    /// Opens the dashboard for a stack of `n_layers` RBMs.
    pub fn new(n_layers: usize) -> Self {
        let interrupter = Interrupter::new();
        let mut tui = TuiMetricsRendererWrapper::new(interrupter.clone(), None);
        for name in [RECONSTRUCTION, GAP] {
            tui.register_metric(MetricDefinition {
                metric_id: MetricId::new(Arc::new(name.to_string())),
                name: name.to_string(),
                description: None,
                attributes: NumericAttributes {
                    unit: None,
                    higher_is_better: false,
                }
                .into(),
            });
        }
        Self {
            tui,
            interrupter,
            n_layers,
        }
    }

    /// Shows one epoch of layer `stats.layer` out of `epochs`; `Break` when the user quit.
    pub fn epoch(&mut self, stats: &EpochStats, epochs: usize) -> ControlFlow<()> {
        self.tui
            .update_train(numeric(RECONSTRUCTION, stats.reconstruction_error));
        if let Some(v) = stats.valid_reconstruction_error {
            self.tui.update_valid(numeric(RECONSTRUCTION, v));
        }
        if let Some(gap) = stats.free_energy_gap {
            self.tui.update_valid(numeric(GAP, gap));
        }
        let progress = TrainingProgress {
            progress: Some(Progress {
                items_processed: stats.epoch,
                items_total: epochs,
            }),
            global_progress: Progress {
                items_processed: stats.layer,
                items_total: self.n_layers,
            },
            iteration: Some(stats.epoch),
        };
        self.tui.render_train(progress, Vec::new());
        if self.interrupter.should_stop() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_weight_each_entry_by_its_count() {
        let mut mean = Mean::default();
        mean.add(&NumericEntry::Aggregated {
            aggregated_value: 50.0,
            count: 100,
        });
        mean.add(&NumericEntry::Aggregated {
            aggregated_value: 80.0,
            count: 300,
        });
        mean.add(&NumericEntry::Value(72.5));
        assert!((mean.value() - (5000.0 + 24000.0 + 72.5) / 401.0).abs() < 1e-9);
    }
}
