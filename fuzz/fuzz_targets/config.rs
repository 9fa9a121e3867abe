//! Settings and saved configs on arbitrary text: what `--config FILE` and `load_module` parse.
//! Parsing and validation give an error or a value, never a panic; a config that validates
//! survives a JSON round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

use dbn_model::{DbnClassifierConfig, DbnConfig, PretrainConfig, RbmConfig};
use dbn_train::config::{RunConfig, upgrade_legacy_layout};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = serde_json::from_str::<RunConfig>(text)
        && config.validate().is_ok()
    {
        let json = serde_json::to_string(&config).unwrap();
        let again: RunConfig = serde_json::from_str(&json).unwrap();
        assert!(again.validate().is_ok(), "{json}");
    }
    // A config of the layout before the model and training settings were split is converted.
    if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) {
        upgrade_legacy_layout(&mut value);
    }
    if let Ok(config) = PretrainConfig::over(text, &PretrainConfig::new()) {
        let _ = config.validate(3);
    }
    if let Ok(config) = serde_json::from_str::<DbnConfig>(text) {
        let _ = config.validate();
    }
    if let Ok(config) = serde_json::from_str::<RbmConfig>(text) {
        let _ = config.validate();
    }
    if let Ok(config) = serde_json::from_str::<DbnClassifierConfig>(text) {
        let _ = config.validate();
    }
});
