//! The fine-tuning run folder that burn-train writes, made safe to resume: the metric logs
//! (written by [`MetricFiles`]), the history read from them ([`best_epoch`],
//! [`NoImprovementSince`]), and the checkpoints ([`last_checkpoint`], [`AfterLogs`]).
//!
//! ```text
//! DIR/train/epoch-N/{Loss,Accuracy}.log   one serialized entry per batch
//! DIR/valid/epoch-N/{Loss,Accuracy}.log
//! DIR/checkpoint/{model,optim,scheduler}-N.mpk
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use burn::train::EarlyStoppingStrategy;
use burn::train::Interrupter;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{
    Aggregate, Direction, EpochSummary, EventStoreClient, MetricsUpdate, Split,
};
use burn::train::metric::{Metric, MetricDefinition, MetricId, NumericEntry};

use crate::run_dir::epoch_mean;

/// The last epoch whose checkpoint burn-train wrote completely in `dir/checkpoint/`: all three
/// of its files (model, optimiser, scheduler) exist. Each file is written atomically, but a
/// kill can fall between them.
pub fn last_checkpoint(dir: &Path) -> Option<usize> {
    let folder = dir.join("checkpoint");
    std::fs::read_dir(&folder)
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .filter(|epoch: &usize| {
            ["optim", "scheduler"]
                .iter()
                .all(|part| folder.join(format!("{part}-{epoch}.mpk")).is_file())
        })
        .max()
}

/// Removes burn-train's logs of the epochs after `epoch` (left by a run killed after its last
/// complete checkpoint), so that the resumed run's logs are the only ones read.
///
/// # Errors
/// When a log folder cannot be removed.
pub fn forget_epochs_after(dir: &Path, epoch: usize) -> Result<(), Box<dyn Error + Send + Sync>> {
    for split in ["train", "valid"] {
        let Ok(entries) = std::fs::read_dir(dir.join(split)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let later = name
                .to_str()
                .and_then(|name| name.strip_prefix("epoch-")?.parse::<usize>().ok())
                .is_some_and(|n| n > epoch);
            if later {
                std::fs::remove_dir_all(entry.path()).map_err(|e| {
                    format!("cannot remove stale logs {}: {e}", entry.path().display())
                })?;
            }
        }
    }
    Ok(())
}

/// The epoch with the lowest mean validation loss in the logs under `dir`, and that loss.
pub fn best_epoch(dir: &Path) -> Option<(usize, f64)> {
    (1..)
        .map_while(|epoch| Some((epoch, epoch_mean(dir, "valid", epoch, "Loss")?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Early stopping on the mean validation loss, over the whole run: stops once `patience`
/// epochs have passed since the epoch with the lowest one. Unlike burn-train's
/// `MetricEarlyStoppingStrategy`, which remembers the best epoch in memory, it reads the history
/// from the logs, so a resumed run stops where an uninterrupted one would.
#[derive(Clone, Debug)]
pub struct NoImprovementSince {
    patience: usize,
    metric: String,
}

impl NoImprovementSince {
    /// Stop after `patience` epochs without a lower mean validation value of `metric`.
    pub fn new(patience: usize, metric: &impl Metric) -> Self {
        let metric = metric.name().to_string();
        Self { patience, metric }
    }

    /// Whether a run at `epoch` whose best epoch was `best` stops.
    pub fn stops(&self, epoch: usize, best: usize) -> bool {
        epoch >= best + self.patience
    }
}

impl EarlyStoppingStrategy for NoImprovementSince {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        store
            .find_epoch(
                &self.metric,
                Aggregate::Mean,
                Direction::Lowest,
                &Split::Valid,
            )
            .is_some_and(|best| self.stops(epoch, best))
    }
}

/// burn-train's metric logs, written by us: the files of its `FileMetricLogger`
/// (`DIR/{train,valid}/epoch-N/NAME.log`, one serialized entry a line), with two differences.
/// A write that fails (a full disk, a folder gone) interrupts the run with a message naming the
/// file, where burn-train's logger panics in its logging thread. And the first epoch of a resumed
/// run is filed under its own number: burn-train 0.21's event store numbers it 1 whatever the
/// checkpoint, so its logs would overwrite epoch 1's and leave a hole in the history that early
/// stopping and checkpointing read.
pub struct MetricFiles {
    dir: PathBuf,
    first_epoch: usize,
    names: HashMap<MetricId, String>,
    /// The epoch, path and file being written, per split and metric.
    open: HashMap<(String, String), (usize, PathBuf, BufWriter<File>)>,
    interrupter: Interrupter,
    failure: Arc<Mutex<Option<String>>>,
    /// The last epoch whose validation logs are complete on disk.
    validated: ValidatedEpoch,
}

impl MetricFiles {
    /// Logs under `dir`; a run whose first epoch is `first_epoch`. `validated` hears of each
    /// epoch whose validation logs are on disk.
    pub fn new(
        dir: &Path,
        first_epoch: usize,
        interrupter: Interrupter,
        validated: ValidatedEpoch,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            first_epoch,
            names: HashMap::new(),
            open: HashMap::new(),
            interrupter,
            failure: Arc::default(),
            validated,
        }
    }

    /// `DIR/SPLIT/epoch-N/NAME.log`.
    fn path(&self, split: &Split, epoch: usize, name: &str) -> PathBuf {
        self.dir
            .join(split.to_string())
            .join(format!("epoch-{epoch}"))
            .join(format!("{}.log", name.replace(' ', "_")))
    }

    /// Appends `line` to the log of `name` in `epoch`, starting the file afresh on the epoch's
    /// first line.
    fn append(&mut self, split: &Split, epoch: usize, name: &str, line: &str) {
        let path = self.path(split, epoch, name);
        let key = (split.to_string(), name.to_string());
        let written = match self.open.get_mut(&key) {
            Some((current, _, file)) if *current == epoch => writeln!(file, "{line}"),
            _ => std::fs::create_dir_all(path.parent().unwrap_or(&path))
                .and_then(|()| File::create(&path))
                .map(BufWriter::new)
                .and_then(|mut file| {
                    writeln!(file, "{line}")?;
                    self.open.insert(key, (epoch, path.clone(), file));
                    Ok(())
                }),
        };
        if let Err(e) = written {
            self.fail(format!("cannot write {}: {e}", path.display()));
        }
    }

    /// Flushes every open log.
    fn flush(&mut self) {
        let failed: Vec<String> = self
            .open
            .iter_mut()
            .filter_map(|(_, (_, path, file))| {
                file.flush()
                    .err()
                    .map(|e| format!("cannot write {}: {e}", path.display()))
            })
            .collect();
        failed.into_iter().for_each(|message| self.fail(message));
    }

    /// Records the first failure and interrupts the run with it.
    fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            self.interrupter.stop(Some(&message));
            *failure = Some(message);
        }
    }
}

impl MetricLogger for MetricFiles {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let epoch = epoch.max(self.first_epoch);
        let entries = update
            .entries
            .iter()
            .chain(update.entries_numeric.iter().map(|numeric| &numeric.entry));
        for entry in entries {
            if let Some(name) = self.names.get(&entry.metric_id).cloned() {
                self.append(split, epoch, &name, &entry.serialized_entry.serialized);
            }
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        self.flush();
        std::fs::read_to_string(self.path(split, epoch, name))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.is_empty())
            .map(NumericEntry::deserialize)
            .collect()
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        self.flush();
        if summary.split == Split::Valid {
            self.validated.reach(summary.epoch_number);
        }
    }
}

/// The last epoch whose validation logs are on disk, shared between the logger (on
/// burn-train's metrics thread) and [`AfterLogs`] (on the training thread).
#[derive(Clone, Default)]
pub struct ValidatedEpoch(Arc<(Mutex<usize>, Condvar)>);

impl ValidatedEpoch {
    /// Epoch `epoch`'s validation logs are written.
    fn reach(&self, epoch: usize) {
        let (last, changed) = &*self.0;
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last).max(epoch);
        changed.notify_all();
    }

    /// Waits until epoch `epoch`'s validation logs are written, or `limit` has passed.
    fn wait_for(&self, epoch: usize, limit: Duration) {
        let (last, changed) = &*self.0;
        let last = last.lock().unwrap_or_else(|e| e.into_inner());
        let _ = changed.wait_timeout_while(last, limit, |last| *last < epoch);
    }
}

/// A checkpointing strategy that decides, and lets burn-train write, epoch N's checkpoint only
/// once epoch N's validation logs are on disk. burn-train computes and logs metrics on another
/// thread, possibly still behind when the training thread checkpoints; a kill in between would
/// leave a checkpoint whose epoch has incomplete logs, and a resumed run would choose its best
/// epoch from them.
pub struct AfterLogs<S> {
    /// The strategy deciding once the logs are on disk.
    pub inner: S,
    /// Hears of each epoch whose validation logs are written.
    pub validated: ValidatedEpoch,
}

impl<S: CheckpointingStrategy> CheckpointingStrategy for AfterLogs<S> {
    fn checkpointing(
        &mut self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        // A minute is far beyond any lag; past it (a stuck logger) the run goes on as before.
        self.validated.wait_for(epoch, Duration::from_secs(60));
        self.inner.checkpointing(epoch, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::train::metric::{LossMetric, MetricEntry, SerializedEntry};

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn a_checkpoint_counts_only_with_all_three_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_checkpoint(dir.path()), None);
        let folder = dir.path().join("checkpoint");
        for part in ["model", "optim", "scheduler"] {
            touch(&folder.join(format!("{part}-2.mpk")));
        }
        // Epoch 3 was cut short between its files.
        touch(&folder.join("model-3.mpk"));
        touch(&folder.join("scheduler-3.mpk"));
        assert_eq!(last_checkpoint(dir.path()), Some(2));
    }

    #[test]
    fn logs_after_the_resumed_epoch_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "valid"] {
            for epoch in 1..=4 {
                touch(&dir.path().join(format!("{split}/epoch-{epoch}/Loss.log")));
            }
        }
        forget_epochs_after(dir.path(), 2).unwrap();
        for split in ["train", "valid"] {
            for epoch in 1..=4 {
                let kept = dir.path().join(format!("{split}/epoch-{epoch}")).exists();
                assert_eq!(kept, epoch <= 2, "{split} {epoch}");
            }
        }
    }

    /// One `Loss` entry of `value`.
    fn update(id: &MetricId, value: f64) -> MetricsUpdate {
        let serialized = format!("{value},1");
        let entry = MetricEntry::new(
            id.clone(),
            SerializedEntry::new(serialized.clone(), serialized),
        );
        MetricsUpdate::new(vec![entry], Vec::new())
    }

    #[test]
    fn a_resumed_run_files_its_first_epoch_under_its_own_number() {
        let dir = tempfile::tempdir().unwrap();
        let id = MetricId::new(Arc::new("Loss".to_string()));
        let validated = ValidatedEpoch::default();
        let mut logs = MetricFiles::new(dir.path(), 4, Interrupter::new(), validated.clone());
        logs.log_metric_definition(MetricDefinition::new(
            id.clone(),
            &LossMetric::<Flex>::new(),
        ));
        // burn-train's store calls the first epoch after a resume "1", the next ones rightly.
        logs.log(update(&id, 0.5), 1, &Split::Valid);
        logs.log(update(&id, 0.3), 1, &Split::Valid);
        logs.log_epoch_summary(EpochSummary::new(4, Split::Valid));
        logs.log(update(&id, 0.2), 5, &Split::Valid);
        let read = |logs: &mut MetricFiles, epoch| logs.read_numeric("Loss", epoch, &Split::Valid);
        assert_eq!(read(&mut logs, 4).unwrap().len(), 2);
        assert_eq!(read(&mut logs, 5).unwrap().len(), 1);
        assert!(read(&mut logs, 1).unwrap().is_empty(), "epoch 1 untouched");
        assert!((epoch_mean(dir.path(), "valid", 4, "Loss").unwrap() - 0.4).abs() < 1e-12);
        // The checkpoint of epoch 4 no longer waits; that of epoch 5 would (up to its limit).
        validated.wait_for(4, Duration::from_secs(60));
    }

    #[test]
    fn a_log_that_cannot_be_written_interrupts_the_run_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("valid");
        std::fs::write(&blocker, b"a file where the folder should be").unwrap();
        let id = MetricId::new(Arc::new("Loss".to_string()));
        let interrupter = Interrupter::new();
        let mut logs = MetricFiles::new(
            dir.path(),
            1,
            interrupter.clone(),
            ValidatedEpoch::default(),
        );
        logs.log_metric_definition(MetricDefinition::new(
            id.clone(),
            &LossMetric::<Flex>::new(),
        ));
        logs.log(update(&id, 0.5), 1, &Split::Valid);
        assert!(interrupter.should_stop());
        let message = interrupter.get_message().unwrap();
        assert!(message.contains("valid/epoch-1/Loss.log"), "{message}");
    }
}
