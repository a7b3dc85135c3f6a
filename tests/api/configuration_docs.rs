//! The settings users may write, as this build accepts them (its own groups and those of the
//! plugins built in), are each documented in docs/configuration.md, which the README links.

#[test]
fn every_accepted_name_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap();
    let keys = bw_api::config::accepted_keys();
    assert!(keys.len() >= 30, "{keys:?}");
    // A plugin's own group is in: the verify settings come with the repository plugin.
    assert!(keys.iter().any(|k| k == "verify_interval"), "{keys:?}");
    for key in keys {
        let name = bw_api::config::env_name_of(&key);
        assert!(docs.contains(&format!("`{name}`")), "docs/configuration.md does not document {name}");
    }
}
