//! The layers of ARCHITECTURE.md, held against the manifests: a crate lower down names no crate
//! above it, and the host side and the store name no HTTP crate.

use std::path::Path;

/// The names in a manifest's `[dependencies]` (not dev-dependencies: tests may use anything).
fn dependencies(crate_dir: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate_dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.push(name.to_string());
        }
    }
    assert!(!names.is_empty(), "no dependency read from {}", manifest.display());
    names
}

fn refuses(crate_dir: &str, forbidden: &[&str]) {
    let deps = dependencies(crate_dir);
    for name in forbidden {
        assert!(
            !deps.iter().any(|d| d == name),
            "{crate_dir} depends on {name}, which ARCHITECTURE.md puts out of its reach"
        );
    }
}

#[test]
fn each_core_crate_imports_only_what_is_below_it() {
    let plugins = [
        "bw-plugin-repo",
        "bw-plugin-tokens",
        "bw-plugin-cron-status",
        "bw-plugin-cron-storage",
        "bw-plugin-metrics",
        "bw-plugin-dashboard",
        "bw-plugin-history",
        "bw-plugin-version",
    ];
    let http = ["poem", "poem-openapi", "figment", "clap"];
    refuses("core/host", &[&["bw-store", "bw-api", "sled", "serde_json"][..], &http, &plugins].concat());
    refuses("core/store", &[&["bw-api"][..], &http, &plugins].concat());
    refuses("core/api", &[&["borgwarehouse"][..], &plugins].concat());
    for plugin in
        ["repo", "tokens", "cron-status", "cron-storage", "metrics", "dashboard", "history", "sign-in", "version"]
    {
        refuses(&format!("plugins/{plugin}"), &[&["borgwarehouse"][..], &plugins].concat());
    }
    // The test reads what it means to: the store does name the host side.
    assert!(dependencies("core/store").iter().any(|d| d == "bw-host"));
}
