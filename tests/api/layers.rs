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

/// Every plugin crate, read from `plugins/*/Cargo.toml`: a new plugin cannot be left out.
fn plugin_crates() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("Cargo.toml")).ok()?;
            let name = text.lines().find_map(|l| l.trim().strip_prefix("name = "))?.trim_matches('"').to_string();
            Some((e.file_name().to_string_lossy().into_owned(), name))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn each_core_crate_imports_only_what_is_below_it() {
    let crates = plugin_crates();
    assert!(crates.len() >= 9, "too few plugins read: {crates:?}");
    assert!(crates.iter().any(|(_, n)| n == "bw-plugin-sign-in"), "{crates:?}");
    let plugins: Vec<&str> = crates.iter().map(|(_, n)| n.as_str()).collect();
    let http = ["poem", "poem-openapi", "figment", "clap"];
    refuses("core/host", &[&["bw-store", "bw-api", "sled", "serde_json"][..], &http, &plugins].concat());
    refuses("core/store", &[&["bw-api"][..], &http, &plugins].concat());
    // Above the store seam, nothing knows which backend holds the truth.
    refuses("core/api", &[&["borgwarehouse", "sled"][..], &plugins].concat());
    for (folder, _) in &crates {
        refuses(&format!("plugins/{folder}"), &[&["borgwarehouse", "sled"][..], &plugins].concat());
    }
    // The test reads what it means to: the store does name the host side.
    assert!(dependencies("core/store").iter().any(|d| d == "bw-host"));
}

/// The files of the store whose code names `word`.
fn store_files_naming(word: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/store/src");
    let mut naming = Vec::new();
    let mut folders = vec![src.clone()];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Code only: the module comments may say what the backends are.
                if text.lines().any(|l| !l.trim_start().starts_with("//") && l.contains(word)) {
                    naming.push(path.strip_prefix(&src).unwrap().display().to_string());
                }
            }
        }
    }
    naming.sort();
    naming
}

/// Inside the store, sled is one backend behind the seam: one file names it, and the seam's
/// bytes type wraps sled's (no copy of what sled hands back). PostgreSQL is another, in its
/// own folder.
#[test]
fn only_each_backend_names_its_database() {
    assert_eq!(store_files_naming("sled::"), ["backend/seam.rs", "backend/sled_backend.rs"]);
    for driver in ["tokio_postgres::", "deadpool_postgres::", "rustls::"] {
        let naming = store_files_naming(driver);
        assert!(
            !naming.is_empty() && naming.iter().all(|f| f.starts_with("backend/postgres/")),
            "{driver}: {naming:?}"
        );
    }
}
