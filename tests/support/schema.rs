//! The committed JSON schema (schema/tcpstat.schema.json), compiled for
//! checking tcpstat's real output against it.

use serde_json::Value;
use std::path::Path;

/// A validator for one of the schema's documents: the `--json` array when
/// `def` is `None`, else the definition `#/$defs/DEF` (`pass`, `event`),
/// resolved inside the same schema.
pub fn validator(def: Option<&str>) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/tcpstat.schema.json");
    let mut schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    if let Some(def) = def {
        let root = schema.as_object_mut().unwrap();
        assert!(
            root["$defs"].get(def).is_some(),
            "no $defs/{def} in the schema"
        );
        root.remove("type");
        root.remove("items");
        root.insert("$ref".into(), Value::String(format!("#/$defs/{def}")));
    }
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Panics with every schema error of `doc`.
pub fn assert_valid(validator: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors {errors:?} in {doc}");
}
