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

/// The first line of `output` that starts with `prefix`; panics showing the whole output when
/// there is none.
pub fn line_starting<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
}
