//! Runs that meet the unexpected: SIGKILL at random points then `--resume`, divergence, an
//! unwritable or full artifact folder, a data folder that vanishes, mismatched records.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime};

use common::classifier_values;

/// A run small enough to repeat, long enough to be killed inside an epoch.
const RUN: &[&str] = &[
    "--train-limit",
    "5000",
    "--layers",
    "784,200,100",
    "--pretrain-epochs",
    "3",
    "--finetune-epochs",
    "5",
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
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".tmp") {
                // An unfinished write: never read, replaced by the next one.
            } else if name.ends_with(".json") {
                let bytes = std::fs::read(&path).unwrap();
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            } else if name.ends_with(".mpk") || name.ends_with(".ckpt") {
                let bytes = std::fs::read(&path).unwrap();
                rmp_serde::from_slice::<serde::de::IgnoredAny>(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}

/// Every weight and bias of the stack saved in `dir`.
fn dbn_values(dir: &Path) -> Vec<Vec<f32>> {
    use burn::backend::Flex;
    use dbn_model::{Dbn, load_module};
    let (dbn, _) = load_module::<Flex, Dbn<Flex>>(dir, &Default::default()).unwrap();
    dbn.rbms
        .iter()
        .flat_map(|rbm| {
            [
                rbm.weights.val().into_data().to_vec().unwrap(),
                rbm.visible_bias.val().into_data().to_vec().unwrap(),
                rbm.hidden_bias.val().into_data().to_vec().unwrap(),
            ]
        })
        .collect()
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
    // layers, inside fine-tuning epochs, at their checkpoints and while the artifacts are saved.
    let plan: [(&str, u64); 6] = [
        ("run folder", 150),
        ("pretrain layer 1/2", 150),
        ("pretrain layer 2/2", 150),
        ("fine-tune epoch", 120),
        ("fine-tune epoch", 120),
        ("fine-tuning: restored", 30),
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
    let metrics = |dir: &Path| std::fs::read_to_string(dir.join("finetune-metrics.csv")).unwrap();
    assert_eq!(metrics(&run), metrics(&reference), "{report}");
    println!("{report}");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
