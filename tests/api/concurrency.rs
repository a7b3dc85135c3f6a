//! Mutations are serialized: concurrent creates neither lose lines nor share keys.

use std::sync::Arc;

use bw_tests::{ed25519_key, repo_body, TestServer};

#[test]
fn fifty_concurrent_creates_with_distinct_keys() {
    let s = Arc::new(TestServer::start());
    let t = Arc::new(s.full_token());
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (s, t) = (s.clone(), t.clone());
            std::thread::spawn(move || s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(100 + i, ""))))
        })
        .collect();
    let answers: Vec<(u16, serde_json::Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    assert_eq!(s.state.repos.len(), 50);
    let text = s.authorized_keys_text();
    assert_eq!(text.lines().count(), 50);
    // Each client was given an id of its own, and together they are 0..50.
    let mut ids: Vec<u64> = answers.iter().map(|(_, body)| body["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    let names: std::collections::BTreeSet<&str> =
        answers.iter().map(|(_, body)| body["repositoryName"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 50, "two clients were given one name");
    for repo in s.state.repos.list().unwrap() {
        assert_eq!(text.matches(&format!("/repos/{} ", repo.repository_name)).count(), 1);
    }
}

#[test]
fn concurrent_creates_with_one_key_give_exactly_one_repository() {
    let s = Arc::new(TestServer::start());
    let t = Arc::new(s.full_token());
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (s, t) = (s.clone(), t.clone());
            std::thread::spawn(move || s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(7, ""))).0)
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses[0], 200);
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    assert_eq!(s.state.repos.len(), 1);
    assert_eq!(s.authorized_keys_text().lines().count(), 1);
}
