//! Runs that meet the unexpected: SIGKILL at random points then `--resume`, divergence, an
//! unwritable or full artifact folder, a data folder that vanishes, mismatched records.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime};

use common::{classifier_values, dbn, dbn_values, ok, text};

/// A run small enough to repeat, long enough to be killed inside an epoch; with dropout, so
/// that fine-tuning draws random numbers too.
const RUN: &[&str] = &[
    "--train-limit",
    "5000",
    "--layers",
    "784,200,100",
    "--pretrain-epochs",
    "3",
    "--finetune-epochs",
    "5",
    "--dropout",
    "0.2",
    "--seed",
    "7",
];

/// `dbn train --out DIR RUN EXTRA`, its standard output read line by line on a thread.
fn spawn_train(out: &Path, extra: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbn"))
        .arg("train")
        .arg("--out")
        .arg(out)
        .args(RUN)
        .args(extra)
        .env_remove("DBN_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the dbn binary runs");
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

/// A small deterministic generator for the kill delays (xorshift64*).
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % max
    }
}

/// Every JSON and record file in `dir` (not the logs) decodes completely: a kill never leaves a
/// truncated artifact that would load.
fn assert_artifacts_whole(dir: &Path) {
    for (path, bytes) in snapshot(dir) {
        let name = path.file_name().unwrap().to_string_lossy();
        // `.tmp`: an unfinished write, never read, replaced by the next one.
        if name.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else if name.ends_with(".mpk") || name.ends_with(".ckpt") {
            rmp_serde::from_slice::<serde::de::IgnoredAny>(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

/// The tensors are bit-identical; otherwise says which one differs and by how much.
fn assert_same(ours: &[Vec<f32>], theirs: &[Vec<f32>], what: &str, report: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: tensor count. {report}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            a == b,
            "{what}: tensor {i} differs by up to {diff}. {report}"
        );
    }
}

#[test]
fn killed_at_random_points_and_resumed_a_run_ends_with_the_same_weights() {
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    let (mut child, _lines) = spawn_train(&reference, &[]);
    assert!(child.wait().unwrap().success(), "the reference run failed");

    // Where to kill: a random delay after the first line starting with each marker (a resumed
    // run prints only what is left), so the kills fall inside pretraining epochs of both
    // layers, inside fine-tuning epochs, at their checkpoints, in the preset's refit and while
    // the artifacts are saved.
    let plan: [(&str, u64); 8] = [
        ("run folder", 150),
        ("pretrain layer 1/2", 150),
        ("pretrain layer 2/2", 150),
        ("fine-tune epoch", 120),
        ("fine-tune epoch", 120),
        ("fine-tuning: restored", 30),
        ("refit:", 300),
        // By now the first fine-tuning is done: this epoch is the refit's.
        ("fine-tune epoch", 300),
    ];
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut delays = Delays(seed);
    let run = root.path().join("interrupted");
    let mut kills = Vec::new();
    for (attempt, (marker, max_delay)) in plan.iter().enumerate() {
        let resume: &[&str] = if attempt == 0 { &[] } else { &["--resume"] };
        let (mut child, lines) = spawn_train(&run, resume);
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        let seen = loop {
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let hit = line.starts_with(marker);
                    last = line;
                    if hit {
                        break true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break false,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    assert!(Instant::now() < deadline, "attempt {attempt} hangs")
                }
            }
        };
        if seen {
            std::thread::sleep(Duration::from_millis(delays.next_ms(*max_delay)));
            while let Ok(line) = lines.try_recv() {
                last = line;
            }
        }
        child.kill().ok(); // SIGKILL; a process that already exited is left as it is
        let status = child.wait().unwrap();
        if status.code().is_none() {
            kills.push(format!("attempt {attempt}: killed after {last:?}"));
        }
        assert_artifacts_whole(&run);
    }
    let (mut child, _lines) = spawn_train(&run, &["--resume"]);
    assert!(child.wait().unwrap().success(), "the final --resume failed");

    let report = format!("seed {seed}, kills:\n{}", kills.join("\n"));
    assert!(kills.len() >= 4, "too few kills landed: {report}");
    assert!(
        kills.iter().any(|k| k.contains("\"pretrain")),
        "no kill during pretraining: {report}"
    );
    assert!(
        kills.iter().any(|k| k.contains("\"fine-tune")),
        "no kill during fine-tuning: {report}"
    );
    assert_same(&dbn_values(&run), &dbn_values(&reference), "stack", &report);
    let (ours, theirs) = (classifier_values(&run), classifier_values(&reference));
    assert_same(&ours, &theirs, "classifier", &report);
    let summary = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    for field in ["test_error", "finetune_best_epoch"] {
        assert_eq!(
            summary(&run)[field],
            summary(&reference)[field],
            "{field}: {report}"
        );
    }
    for csv in ["finetune-metrics.csv", "refit-metrics.csv"] {
        let metrics = |dir: &Path| std::fs::read_to_string(dir.join(csv)).unwrap();
        assert_eq!(metrics(&run), metrics(&reference), "{csv}: {report}");
    }
    println!("{report}");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The standard error of a command that must have failed, checked to hold no panic.
fn failed(out: &std::process::Output) -> String {
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure; stdout:\n{}",
        text(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked"),
        "a panic, not an error:\n{stderr}"
    );
    stderr
}

/// `dbn ARGS` with files limited to `kib` KiB (RLIMIT_FSIZE, SIGXFSZ ignored): any write
/// beyond fails with EFBIG, as on a full disk.
fn dbn_with_file_limit(kib: u64, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f {kib}; trap '' XFSZ; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_dbn"))
        .args(args)
        .env_remove("DBN_DATA_DIR")
        .output()
        .expect("bash runs")
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A tiny stack: 1,000 images, one RBM of `hidden` units, `epochs` CD epochs.
fn pretrain_tiny(out: &Path, hidden: &str, extra: &[&str]) -> std::process::Output {
    let layers = format!("784,{hidden}");
    let mut args = vec![
        "pretrain",
        "--out",
        out.to_str().unwrap(),
        "--train-limit",
        "1000",
        "--layers",
        &layers,
    ];
    args.extend_from_slice(extra);
    dbn(&args)
}

#[test]
fn diverging_pretraining_names_layer_epoch_and_batch_and_keeps_a_checkpoint_that_loads() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    let flags = ["--pretrain-epochs", "6", "--pretrain-lr", "1e5"];
    let first = failed(&pretrain_tiny(&out, "100", &flags));
    // "layer 1 diverged at epoch E, batch B: ... lower the learning rate (now 100000)"
    let at = first
        .split("layer 1 diverged at epoch ")
        .nth(1)
        .unwrap_or_else(|| panic!("{first}"));
    let epoch: usize = at.split(',').next().unwrap().parse().unwrap();
    assert!(at.contains(", batch "), "{first}");
    assert!(
        first.contains("lower the learning rate (now 100000)"),
        "{first}"
    );
    assert!(epoch >= 2, "diverged in epoch 1, nothing to keep: {first}");
    // The checkpoint of the last good epoch is kept, whole, and a resumed run loads it: it goes
    // on from there and, the settings being the same, diverges at the same batch.
    assert!(out.join("pretrain.ckpt").is_file());
    assert!(!out.join("dbn.mpk").exists(), "no diverged stack is saved");
    let mut resumed_flags = flags.to_vec();
    resumed_flags.push("--resume");
    let resumed = pretrain_tiny(&out, "100", &resumed_flags);
    assert!(
        text(&resumed.stdout).contains("pretraining: resuming from"),
        "{}",
        text(&resumed.stdout)
    );
    let again = failed(&resumed);
    let line = |s: &str| {
        s.lines()
            .find(|l| l.contains("diverged"))
            .map(str::to_owned)
    };
    assert_eq!(line(&again), line(&first));
}

/// `dbn finetune` of a small net from random initialisation (784-100, 1,000 labelled images)
/// into `out`, with the flags of `extra`.
fn small_finetune(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "finetune",
        "--random-init",
        "--out",
        out.to_str().unwrap(),
        "--train-limit",
        "1000",
        "--layers",
        "784,100",
    ];
    args.extend_from_slice(extra);
    dbn(&args)
}

#[test]
fn diverging_finetuning_names_epoch_and_batch_and_writes_no_classifier() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    let err = failed(&small_finetune(&out, &["--finetune-lr", "1e36"]));
    assert!(
        err.contains("fine-tuning diverged at epoch 1, batch "),
        "{err}"
    );
    assert!(err.contains("the training loss became inf"), "{err}");
    assert!(err.contains("no checkpoint was written"), "{err}");
    assert!(!out.join("classifier.mpk").exists());
}

#[test]
fn a_diverging_schedule_is_dropped_and_another_one_kept() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config.json");
    // One epoch of [`small_finetune`] with the settings of `settings` over the preset.
    let finetune = |out: &Path, settings: &str| {
        std::fs::write(&config, settings).unwrap();
        let config = config.to_str().unwrap();
        small_finetune(out, &["--finetune-epochs", "1", "--config", config])
    };
    // The preset's two schedules, the first at a rate that diverges; the second (0.1) trains.
    let out = root.path().join("run");
    let output = finetune(&out, r#"{"finetune": {"learning_rate": 1e36}}"#);
    let stdout = ok(&output);
    let err = text(&output.stderr);
    assert!(
        err.contains("warning: rate 1e36 x0.9 per epoch: fine-tuning diverged at epoch 1, batch "),
        "{err}"
    );
    assert!(err.contains("This schedule is dropped."), "{err}");
    assert!(
        stdout.contains("the validation split chose constant rate 0.1"),
        "{stdout}"
    );
    assert!(out.join("classifier.mpk").exists());

    // Every schedule diverging is the first one's error, and no classifier.
    let out = root.path().join("all");
    let err = failed(&finetune(
        &out,
        r#"{"finetune": {"learning_rate": 1e36, "alternatives": [{"learning_rate": 1e37}]}}"#,
    ));
    assert!(err.contains("This schedule is dropped."), "{err}");
    assert!(
        err.lines().last().is_some_and(
            |l| l.contains("fine-tuning diverged at epoch 1") && l.contains("(now 1e36)")
        ),
        "{err}"
    );
    assert!(!out.join("classifier.mpk").exists());
}

#[test]
fn a_full_disk_stops_with_the_file_named_and_overwrites_nothing() {
    let root = tempfile::tempdir().unwrap();
    // Pretraining: its checkpoint (about 1 MB here) cannot be written.
    let run = root.path().join("pretrain");
    let out = dbn_with_file_limit(
        200,
        &[
            "train",
            "--out",
            run.to_str().unwrap(),
            "--train-limit",
            "1000",
        ],
    );
    let err = failed(&out);
    assert!(
        err.contains("pretrain.ckpt: cannot write checkpoint: File too large"),
        "{err}"
    );

    // Fine-tuning from a stack: burn-train's checkpoint cannot be written.
    let stack = root.path().join("stack");
    ok(&pretrain_tiny(&stack, "200", &["--pretrain-epochs", "1"]));
    let tuned = root.path().join("tuned");
    let finetune = |extra: &[&str]| {
        let mut args = vec![
            "finetune",
            "--from",
            stack.to_str().unwrap(),
            "--out",
            tuned.to_str().unwrap(),
            "--train-limit",
            "1000",
            "--layers",
            "784,200",
            "--finetune-epochs",
            "2",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = finetune(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = failed(&dbn_with_file_limit(300, &args));
    assert!(err.contains("fine-tuning stopped"), "{err}");
    assert!(
        err.contains("checkpoint") && err.contains("-1.mpk: File too large"),
        "{err}"
    );
    assert_artifacts_whole(&tuned);

    // A finished run resumed on a full disk: the error names the file, every file is as it was.
    ok(&dbn(&args_with(&args, &["--overwrite"])));
    let before = snapshot(&tuned);
    let err = failed(&dbn_with_file_limit(300, &args_with(&args, &["--resume"])));
    assert!(err.contains("File too large"), "{err}");
    assert_unchanged(&before, &snapshot(&tuned));
}

/// The same files with the same bytes (burn-train's `experiment.log` may only have grown: it is
/// appended to); otherwise names the ones that differ.
fn assert_unchanged(before: &[(PathBuf, Vec<u8>)], after: &[(PathBuf, Vec<u8>)]) {
    let names =
        |files: &[(PathBuf, Vec<u8>)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(before), names(after), "the files differ");
    let changed: Vec<_> = before
        .iter()
        .zip(after)
        .filter(|(a, b)| match a.0.ends_with("experiment.log") {
            true => !b.1.starts_with(&a.1),
            false => a.1 != b.1,
        })
        .map(|(a, _)| a.0.display().to_string())
        .collect();
    assert!(changed.is_empty(), "changed: {changed:?}");
}

/// `args` followed by `extra`.
fn args_with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(extra).copied().collect()
}

#[test]
fn an_unwritable_artifact_folder_is_named_before_any_training() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let out = file.join("run");
    let err = failed(&pretrain_tiny(&out, "50", &[]));
    assert!(
        err.contains(&format!("{}: cannot create", out.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");
}

#[test]
fn a_data_folder_that_vanishes_mid_run_does_not_stop_it() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    let shipped = dbn_data::shipped_mnist_dir();
    for entry in std::fs::read_dir(&shipped).unwrap().flatten() {
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    let out = root.path().join("run");
    let (mut child, lines) = spawn_train(&out, &["--data-dir", data.to_str().unwrap()]);
    // The first line names the backend and device; the second the run folder.
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a first line");
    assert!(first.starts_with("backend "), "{first}");
    let second = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a second line");
    assert!(second.starts_with("run folder"), "{second}");
    // Everything is read before training starts (settings and data are checked first).
    std::fs::remove_dir_all(&data).unwrap();
    assert!(child.wait().unwrap().success(), "the run failed");
    assert!(out.join("summary.json").is_file());
}

#[test]
fn a_record_of_other_sizes_is_refused_by_every_command_and_overwrites_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (small, large) = (root.path().join("small"), root.path().join("large"));
    ok(&pretrain_tiny(&small, "50", &["--pretrain-epochs", "1"]));
    ok(&pretrain_tiny(&large, "60", &["--pretrain-epochs", "1"]));
    // A record of 784-60 beside a config of 784-50.
    std::fs::copy(large.join("dbn.mpk"), small.join("dbn.mpk")).unwrap();
    let before = snapshot(&small);
    let model = small.to_str().unwrap();
    let sample_out = root.path().join("samples.png");
    let tuned = root.path().join("tuned");
    for args in [
        vec![
            "sample",
            "--model",
            model,
            "--out",
            sample_out.to_str().unwrap(),
        ],
        vec!["loglik", "--model", model],
        vec![
            "finetune",
            "--from",
            model,
            "--out",
            tuned.to_str().unwrap(),
            "--layers",
            "784,50",
            "--train-limit",
            "1000",
        ],
    ] {
        let err = failed(&dbn(&args));
        assert!(
            err.contains("dbn.mpk") && err.contains("784, 60"),
            "{args:?}: {err}"
        );
    }
    assert_unchanged(&before, &snapshot(&small));
}
