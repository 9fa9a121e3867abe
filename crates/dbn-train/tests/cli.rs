//! The `dbn` binary as a user runs it.

mod common;

use std::process::Command;

use common::{dbn, line_starting, text};

#[test]
fn data_prints_counts_per_split_and_label_of_the_shipped_mnist() {
    let out = dbn(&["data"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let row = |name: &str| {
        line_starting(&stdout, name)
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // images, mean pixel, then the count of each label 0..=9.
    assert_eq!(
        row("test"),
        "10000 0.1325 980 1135 1032 1010 982 892 958 1028 974 1009"
    );
    assert!(row("train").starts_with("50000 "), "{stdout}");
    assert!(row("validation").starts_with("10000 "), "{stdout}");
}

#[test]
fn a_missing_data_folder_is_an_error_naming_the_file() {
    let out = dbn(&["data", "--data-dir", "/nonexistent/mnist"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--data /nonexistent/mnist: no such file or folder"),
        "{stderr}"
    );
}

#[test]
fn the_data_dir_comes_from_the_environment_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_dbn"))
        .arg("data")
        .env("DBN_DATA_DIR", "/nonexistent/from-env")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--data /nonexistent/from-env: no such file or folder"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_impossible_validation_split_names_the_flag() {
    let out = dbn(&["data", "--validation", "60000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: --validation:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_documents_every_flag() {
    let out = dbn(&["data", "--help"]);
    let help = text(&out.stdout);
    for flag in [
        "--data",
        "--data-dir",
        "DBN_DATA_DIR",
        "--validation",
        "--test-data",
        "--test-split",
        "--label-column",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn bench_times_every_workload_and_says_why_the_peer_is_skipped() {
    let out = dbn(&[
        "bench",
        "--examples",
        "300",
        "--python",
        "/nonexistent/python3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("SGEMM peak not measured: cannot run /nonexistent/python3"),
        "{stdout}"
    );
    for name in [
        "cd1 784x500 b100",
        "cd1 500x2000 b100",
        "cd1 784x2000 b1000",
        "pretrain 784-500-500-2000 b100",
        "finetune 784-500-500-2000-10 b100",
    ] {
        let line = line_starting(&stdout, name);
        assert!(line.contains("GFLOP/s"), "{line}");
        assert!(
            line.contains("peer skipped: cannot run /nonexistent/python3"),
            "{line}"
        );
    }
}

#[test]
fn bench_refuses_a_filter_that_matches_nothing() {
    let out = dbn(&["bench", "--only", "cd7", "--no-peer"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--only \"cd7\" matches no workload"));
}

#[test]
fn a_device_the_backend_has_not_is_one_line_naming_the_flag() {
    let out = dbn(&["data", "--device", "tpu"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(
        text(&out.stderr).contains("invalid value 'tpu' for '--device <DEVICE>'"),
        "{}",
        text(&out.stderr)
    );
    if cfg!(any(feature = "wgpu", feature = "cuda")) {
        return; // a GPU build has GPUs to offer
    }
    let out = dbn(&["data", "--device", "gpu:1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --device gpu:1: the ")
            && stderr.contains("runs on the CPU only"),
        "{stderr}"
    );
    let stdout = text(&dbn(&["data", "--device", "cpu"]).stdout);
    assert!(
        stdout.lines().next().unwrap().starts_with("backend ") && stdout.contains(" on CPU, "),
        "{stdout}"
    );
    // Several devices: a CPU backend has one.
    let out = dbn(&["train", "--devices", "cpu,gpu:1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: --devices cpu,gpu:1: the ")
            && stderr.contains(" backend has one device, the CPU"),
        "{stderr}"
    );
    let out = dbn(&["data", "--device", "cpu", "--devices", "cpu"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}
