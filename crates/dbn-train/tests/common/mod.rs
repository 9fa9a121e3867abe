//! Running the `dbn` binary from the integration tests.

use std::process::{Command, Output};

/// Runs `dbn ARGS` with the default data folder (no `DBN_DATA_DIR` from the environment).
pub fn dbn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbn"))
        .args(args)
        .env_remove("DBN_DATA_DIR")
        .output()
        .expect("the dbn binary runs")
}

/// Process output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
