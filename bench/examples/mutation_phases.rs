//! Times one edit at 10,000 repositories in the store, without HTTP: where a mutation's
//! milliseconds go. `cargo run --release -p bw-bench --example mutation_phases`
use std::time::Instant;

use bw_api::AppState;
use bw_bench::key;
use bw_host::ssh_key::ClientKey;
use bw_store::clock::Clock;
use bw_store::repo_store::{NewRepo, RepoKey, RepoPatch};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = bw_api::config::Config::in_process(dir.path());
    let state = AppState::open(config, Clock::system()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let news: Vec<NewRepo> = (0..10_000)
        .map(|i| NewRepo {
            alias: format!("h{i}"),
            key: ClientKey::parse(&key(i)).unwrap(),
            storage_size: 100,
            comment: String::new(),
            alert: 0,
            lan_command: false,
            append_only_mode: false,
            icon: None,
            storage_target: None,
            tenant: None,
        })
        .collect();
    rt.block_on(state.repos.create_many(news)).unwrap();
    let lines_t = Instant::now();
    for _ in 0..20 {
        let _ = state.repos.list().unwrap();
    }
    println!("list clone x20: {:?}", lines_t.elapsed() / 20);
    let mut times = Vec::new();
    for i in 0..100u64 {
        let t = Instant::now();
        rt.block_on(
            state.repos.update(&RepoKey::Id(i), RepoPatch { storage_size: Some(200 + i), ..Default::default() }),
        )
        .unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!("update median {:?} p99 {:?}", times[50], times[99]);
    let t = Instant::now();
    for _ in 0..20 {
        rt.block_on(state.flush()).unwrap();
    }
    println!("sled flush (nothing dirty) {:?}", t.elapsed() / 20);
    let t = Instant::now();
    for _ in 0..20 {
        state.repos.reconcile().unwrap();
    }
    println!("reconcile (no change, file cached) {:?}", t.elapsed() / 20);
}
