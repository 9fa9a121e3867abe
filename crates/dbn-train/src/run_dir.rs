//! A run's folder: created fresh (never overwriting silently), files written atomically, and the
//! metrics and summary files.

use std::path::{Path, PathBuf};

use dbn_model::{EpochStats, UpDownEpoch, write_atomically};
use serde::Serialize;

/// What to do when the run folder exists and is not empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse: the user must choose.
    Refuse,
    /// Continue the run it holds (`--resume`).
    Resume,
    /// Delete it first (`--overwrite`).
    Overwrite,
}

/// The folder of one run and its artifacts.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

/// An error about the run folder, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct RunDirError {
    /// The folder or file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

fn error(path: &Path, reason: impl std::fmt::Display) -> RunDirError {
    RunDirError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl RunDir {
    /// Opens `path` for a run: creates it if missing; an existing non-empty folder is refused
    /// unless `existing` says to resume or overwrite it.
    ///
    /// # Errors
    /// A [`RunDirError`] naming the folder.
    pub fn prepare(path: &Path, existing: Existing) -> Result<Self, RunDirError> {
        let occupied = std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some());
        match (occupied, existing) {
            (true, Existing::Refuse) => {
                return Err(error(
                    path,
                    "the artifact folder exists and is not empty; pass --resume to continue its \
                     run or --overwrite to replace it",
                ));
            }
            (true, Existing::Overwrite) => {
                std::fs::remove_dir_all(path)
                    .map_err(|e| error(path, format!("cannot clear: {e}")))?;
            }
            (false, Existing::Resume) => {
                return Err(error(
                    path,
                    "--resume: there is no run to resume in this folder",
                ));
            }
            _ => {}
        }
        std::fs::create_dir_all(path).map_err(|e| error(path, format!("cannot create: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// A sub-folder for a part of this run (created if missing; the run's own folder already
    /// passed the overwrite policy).
    ///
    /// # Errors
    /// A [`RunDirError`] naming the sub-folder.
    pub fn sub(&self, name: &str) -> Result<Self, RunDirError> {
        let path = self.file(name);
        std::fs::create_dir_all(&path).map_err(|e| error(&path, format!("cannot create: {e}")))?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `folder/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `bytes` to `folder/name` as a whole or not at all ([`write_atomically`]).
    ///
    /// # Errors
    /// A [`RunDirError`] naming the file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RunDirError> {
        let path = self.file(name);
        write_atomically(&path, bytes).map_err(|e| error(&path, format!("cannot write: {e}")))
    }

    /// Writes `value` as pretty JSON to `folder/name`.
    ///
    /// # Errors
    /// A [`RunDirError`] naming the file.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunDirError> {
        let json = serde_json::to_vec_pretty(value).map_err(|e| error(&self.file(name), e))?;
        self.write(name, &json)
    }

    /// Writes pretraining statistics, one row per layer and epoch, to `folder/name` as CSV.
    ///
    /// # Errors
    /// A [`RunDirError`] naming the file.
    pub fn write_pretrain_csv(
        &self,
        name: &str,
        history: &[Vec<EpochStats>],
    ) -> Result<(), RunDirError> {
        let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let mut csv = String::from(
            "layer,epoch,reconstruction_error,valid_reconstruction_error,free_energy_gap,momentum,seconds\n",
        );
        for s in history.iter().flatten() {
            csv.push_str(&format!(
                "{},{},{:.6},{},{},{},{:.3}\n",
                s.layer,
                s.epoch,
                s.reconstruction_error,
                optional(s.valid_reconstruction_error),
                optional(s.free_energy_gap),
                s.momentum,
                s.seconds
            ));
        }
        self.write(name, csv.as_bytes())
    }

    /// Writes up-down's per-epoch statistics as CSV: epoch, reconstruction errors (training,
    /// validation), generative validation error, seconds.
    ///
    /// # Errors
    /// A [`RunDirError`] naming the file.
    pub fn write_updown_csv(&self, name: &str, history: &[UpDownEpoch]) -> Result<(), RunDirError> {
        let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let mut csv = String::from(
            "epoch,reconstruction_error,valid_reconstruction_error,valid_generative_error,seconds\n",
        );
        for s in history {
            csv.push_str(&format!(
                "{},{:.6},{},{},{:.3}\n",
                s.epoch,
                s.reconstruction_error,
                optional(s.valid_reconstruction_error),
                optional(s.valid_generative_error),
                s.seconds
            ));
        }
        self.write(name, csv.as_bytes())
    }
}

/// The weighted mean of a burn-train metric log (`value,count` per line), if it exists.
fn log_mean(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines() {
        let (value, n) = line.split_once(',')?;
        let (value, n): (f64, f64) = (value.trim().parse().ok()?, n.trim().parse().ok()?);
        sum += value * n;
        count += n;
    }
    (count > 0.0).then(|| sum / count)
}

/// The mean of `metric` (`Loss`, `Accuracy`) over epoch `epoch` of `split` (`train`,
/// `valid`) in burn-train's logs under `logs`.
pub fn epoch_mean(logs: &Path, split: &str, epoch: usize, metric: &str) -> Option<f64> {
    log_mean(
        &logs
            .join(split)
            .join(format!("epoch-{epoch}"))
            .join(format!("{metric}.log")),
    )
}

impl RunDir {
    /// Writes fine-tuning metrics per epoch to `folder/name` as CSV, from the logs burn-train
    /// keeps in `logs/{train,valid}/epoch-N/{Loss,Accuracy}.log`.
    ///
    /// # Errors
    /// A [`RunDirError`] naming the file.
    pub fn write_finetune_csv(&self, name: &str, logs: &Path) -> Result<(), RunDirError> {
        let mut csv = String::from("epoch,train_loss,train_accuracy,valid_loss,valid_accuracy\n");
        for epoch in 1.. {
            let mean = |split: &str, metric: &str| {
                log_mean(
                    &logs
                        .join(split)
                        .join(format!("epoch-{epoch}"))
                        .join(format!("{metric}.log")),
                )
            };
            let Some(train_loss) = mean("train", "Loss") else {
                break;
            };
            let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
            csv.push_str(&format!(
                "{epoch},{train_loss:.6},{},{},{}\n",
                cell(mean("train", "Accuracy")),
                cell(mean("valid", "Loss")),
                cell(mean("valid", "Accuracy"))
            ));
        }
        self.write(name, csv.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occupied_folder_is_never_overwritten_silently() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("run");
        let run = RunDir::prepare(&path, Existing::Refuse).unwrap();
        run.write("a.txt", b"kept").unwrap();
        let err = RunDir::prepare(&path, Existing::Refuse)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--resume") && err.contains("--overwrite"),
            "{err}"
        );
        assert_eq!(std::fs::read(path.join("a.txt")).unwrap(), b"kept");
        RunDir::prepare(&path, Existing::Resume).unwrap();
        assert!(path.join("a.txt").exists());
        RunDir::prepare(&path, Existing::Overwrite).unwrap();
        assert!(!path.join("a.txt").exists());
        let err = RunDir::prepare(&root.path().join("new"), Existing::Resume).unwrap_err();
        assert!(err.to_string().contains("no run to resume"), "{err}");
    }

    #[test]
    fn finetune_logs_become_one_row_per_epoch() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("finetune");
        for (split, epoch, loss, accuracy) in [
            ("train", 1, "2.0,1\n1.0,3\n", "50,100\n70,100\n"),
            ("valid", 1, "0.9,10\n", "75,10\n"),
            ("train", 2, "0.5,1\n", "90,1\n"),
        ] {
            let dir = logs.join(split).join(format!("epoch-{epoch}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("Loss.log"), loss).unwrap();
            std::fs::write(dir.join("Accuracy.log"), accuracy).unwrap();
        }
        let run = RunDir::prepare(&root.path().join("run"), Existing::Refuse).unwrap();
        run.write_finetune_csv("m.csv", &logs).unwrap();
        let csv = std::fs::read_to_string(run.file("m.csv")).unwrap();
        assert_eq!(
            csv,
            "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy\n\
             1,1.250000,60.000000,0.900000,75.000000\n\
             2,0.500000,90.000000,,\n"
        );
    }

    #[test]
    fn files_are_written_whole_and_no_temporary_remains() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::prepare(root.path(), Existing::Refuse).unwrap();
        run.write_json("s.json", &serde_json::json!({"x": 1}))
            .unwrap();
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.json")]);
    }
}
