use bw_tests::{ed25519_key, json, repo_body, TestServer, NOW};

const NAME: &str = "[repositoryName]";

#[test]
fn seed_routes_create_list_get_edit_delete() {
    let s = TestServer::start();
    let t = s.full_token();
    let key = ed25519_key(1, "me@host");

    let (status, created) = s.post("/api/repo/add", Some(&t), &repo_body(&key));
    assert_eq!(status, 200, "{created}");
    insta::assert_json_snapshot!("seed_add", created, { ".repositoryName" => NAME });
    let id = created["id"].as_u64().unwrap();
    let name = created["repositoryName"].as_str().unwrap().to_string();
    assert!(name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{name}");

    // `.ssh` is written in file key mode only (the suite on PostgreSQL runs in command mode).
    let dirs: &[&str] = if bw_tests::on_postgres() { &["repos"] } else { &[".ssh", "repos"] };
    for dir in dirs {
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(s.home.join(dir)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700, "{dir} is created private");
    }

    let (status, list) = s.get("/api/repo", Some(&t));
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("seed_list", list, { ".repoList[].repositoryName" => NAME });

    let (status, one) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
    assert_eq!(status, 200);
    assert_eq!(one["repo"], list["repoList"][0]);
    insta::assert_json_snapshot!("seed_get", one, { ".repo.repositoryName" => NAME });

    let (status, edited) = s.patch(
        &format!("/api/repo/id/{id}/edit"),
        Some(&t),
        &json!({"alias": "Renamed", "storageSize": 200, "appendOnlyMode": true}),
    );
    assert_eq!(status, 200, "{edited}");
    insta::assert_json_snapshot!("seed_edit", edited);
    let (_, one) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
    assert_eq!(one["repo"]["alias"], "Renamed");
    assert_eq!(one["repo"]["storageSize"], 200);
    assert_eq!(one["repo"]["comment"], "nightly", "absent keys keep their value");
    let line = s.authorized_keys_text();
    assert!(
        line.contains(&format!(
            "borg serve --append-only --restrict-to-repository {}/repos/{name} --storage-quota 200G\",restrict {key}",
            s.home.display()
        )),
        "{line}"
    );

    std::fs::create_dir_all(s.home.join("repos").join(&name).join("data")).unwrap();
    let (status, deleted) = s.delete(&format!("/api/repo/id/{id}/delete"), Some(&t));
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("seed_delete", deleted);
    assert!(!s.home.join("repos").join(&name).exists(), "folder removed");
    assert_eq!(s.authorized_keys_text(), "", "line removed");
    let (status, gone) = s.get(&format!("/api/repo/id/{id}"), Some(&t));
    assert_eq!(status, 404);
    insta::assert_json_snapshot!("seed_not_found", gone);
}

#[test]
fn v1_routes_create_list_get_edit_delete() {
    let s = TestServer::start();
    let t = s.full_token();
    let key = ed25519_key(2, "");
    let (status, created) =
        s.post("/api/v1/repositories", Some(&t), &json!({"alias": "v1", "sshPublicKey": key, "storageSize": 5}));
    assert_eq!(status, 200, "{created}");
    let name = created["repositoryName"].as_str().unwrap().to_string();

    let (status, one) = s.get(&format!("/api/v1/repositories/{name}"), Some(&t));
    assert_eq!(status, 200);
    let repo = &one["repo"];
    assert_eq!((repo["comment"].as_str(), repo["alert"].as_u64()), (Some(""), Some(0)), "v1 defaults");
    assert_eq!((repo["lanCommand"].as_bool(), repo["appendOnlyMode"].as_bool()), (Some(false), Some(false)));
    // The list leaves `keys` out unless asked (contract: as light as 3.x clients expect).
    let (_, list) = s.get("/api/v1/repositories", Some(&t));
    let mut without_keys = repo.clone();
    without_keys.as_object_mut().unwrap().remove("keys").expect("the single repository has its keys");
    assert_eq!(list["repoList"][0], without_keys);
    let (_, list) = s.get("/api/v1/repositories?include=keys", Some(&t));
    assert_eq!(list["repoList"][0], *repo);
    let (_, page) = s.get("/api/v1/repositories?limit=1", Some(&t));
    assert_eq!(page["repoList"][0], without_keys, "a page as the whole list");
    let (_, page) = s.get("/api/v1/repositories?limit=1&include=keys", Some(&t));
    assert_eq!(page["repoList"][0], *repo);
    let (status, refused) = s.get("/api/v1/repositories?include=everything", Some(&t));
    assert_eq!((status, refused), (400, json!({"message": "include must be keys"})));

    let (status, _) = s.patch(&format!("/api/v1/repositories/{name}"), Some(&t), &json!({"comment": "changed"}));
    assert_eq!(status, 200);
    assert_eq!(s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).1["repo"]["comment"], "changed");

    let (status, missing) = s.get("/api/v1/repositories/00000000", Some(&t));
    assert_eq!(status, 404);
    insta::assert_json_snapshot!("v1_not_found", missing);

    let (status, _) = s.delete(&format!("/api/v1/repositories/{name}"), Some(&t));
    assert_eq!(status, 200);
    assert_eq!(s.get(&format!("/api/v1/repositories/{name}"), Some(&t)).0, 404);
}

#[test]
fn ids_are_never_reused_and_list_is_ordered() {
    let s = TestServer::start();
    let t = s.full_token();
    let ids: Vec<u64> = (0..3)
        .map(|i| s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(10 + i, ""))).1["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(s.delete("/api/repo/id/2/delete", Some(&t)).0, 200);
    let (dir, config) = s.stop();
    let s = TestServer::start_in(dir, config);
    let t = s.token("again", "create,read");
    let (_, created) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(20, "")));
    assert_eq!(created["id"], 3, "id 2 was used once and is never given again");
    let (_, list) = s.get("/api/repo", Some(&t));
    let listed: Vec<u64> = list["repoList"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(listed, [0, 1, 3]);
}

#[test]
fn status_follows_last_save_and_alert() {
    let s = TestServer::start();
    let t = s.full_token();
    let (_, c) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(3, "")));
    let id = c["id"].as_u64().unwrap();
    s.set_last_save(id, NOW - 1000);
    assert_eq!(s.get(&format!("/api/repo/id/{id}"), Some(&t)).1["repo"]["status"], true);
    assert_eq!(s.get("/api/repo", Some(&t)).1["repoList"][0]["status"], true);
    // The list is cached; it must still turn late on time, to the second.
    s.clock.set(NOW - 1000 + 90_000);
    assert_eq!(s.get("/api/repo", Some(&t)).1["repoList"][0]["status"], true, "on time at exactly the alert delay");
    s.clock.set(NOW - 1000 + 90_001);
    assert_eq!(s.get("/api/repo", Some(&t)).1["repoList"][0]["status"], false, "late one second after");
    s.clock.set(NOW + 90_000);
    assert_eq!(s.get(&format!("/api/repo/id/{id}"), Some(&t)).1["repo"]["status"], false, "late by 1000 s");
    // A new backup makes it current again at once.
    s.set_last_save(id, NOW + 89_990);
    assert_eq!(s.get("/api/repo", Some(&t)).1["repoList"][0]["status"], true);
}

#[test]
fn duplicate_key_is_refused_ignoring_the_comment() {
    let s = TestServer::start();
    let t = s.full_token();
    assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(4, "a"))).0, 200);
    let before = s.authorized_keys_text();
    let (status, body) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(4, "other comment")));
    assert_eq!(status, 409);
    insta::assert_json_snapshot!("key_in_use", body);
    assert_eq!(s.state.repos.len(), 1);
    assert_eq!(s.authorized_keys_text(), before);

    // An edit to the key of another repository is refused too; to its own key is fine.
    let (_, c) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(5, "")));
    let id = c["id"].as_u64().unwrap();
    assert_eq!(
        s.patch(&format!("/api/repo/id/{id}/edit"), Some(&t), &json!({"sshPublicKey": ed25519_key(4, "")})).0,
        409
    );
    assert_eq!(
        s.patch(&format!("/api/repo/id/{id}/edit"), Some(&t), &json!({"sshPublicKey": ed25519_key(5, "new comment")}))
            .0,
        200
    );
}

#[test]
fn delete_can_be_disabled_at_runtime() {
    let s = TestServer::with_config(|c| c.repos.disable_delete = true);
    let t = s.full_token();
    let (_, c) = s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(6, "")));
    let name = c["repositoryName"].as_str().unwrap().to_string();
    let before = s.authorized_keys_text();
    for path in ["/api/repo/id/0/delete".to_string(), format!("/api/v1/repositories/{name}")] {
        let (status, body) = s.delete(&path, Some(&t));
        assert_eq!(status, 403, "{path}");
        insta::assert_json_snapshot!("delete_disabled", body);
    }
    assert_eq!(s.state.repos.len(), 1);
    assert_eq!(s.authorized_keys_text(), before);
}

#[test]
fn bad_path_ids_are_404_never_500() {
    let s = TestServer::start();
    let t = s.full_token();
    for (path, message) in [
        ("/api/repo/id/abc", "No repository with id #abc"),
        ("/api/repo/id/-1", "No repository with id #-1"),
        ("/api/repo/id/99999999999999999999999", "No repository with id #99999999999999999999999"),
        ("/api/v1/repositories/..%2f..%2fetc", "No repository with name ../../etc"),
        ("/api/v1/repositories/ABCDEF12", "No repository with name ABCDEF12"),
    ] {
        let (status, body) = s.get(path, Some(&t));
        assert_eq!((status, body["message"].as_str()), (404, Some(message)), "{path}");
    }
    assert_eq!(s.patch("/api/repo/id/7/edit", Some(&t), &json!({"alias": "x"})).0, 404);
    assert_eq!(s.delete("/api/repo/id/7/delete", Some(&t)).0, 404);
}

/// Pollers: both list routes send an `ETag`; `If-None-Match` with it gets 304 and no body while
/// nothing changed, and the list again once something did.
#[test]
fn list_answers_carry_an_etag_and_304_while_nothing_changed() {
    let s = TestServer::start();
    let t = s.full_token();
    assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(1, ""))).0, 200);
    let get = |path: &str, if_none_match: Option<&str>| {
        let mut req = ureq::get(&format!("{}{path}", s.url)).set("Authorization", &format!("Bearer {t}"));
        if let Some(tag) = if_none_match {
            req = req.set("If-None-Match", tag);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let (status, etag) = (resp.status(), resp.header("ETag").map(str::to_string));
        (status, etag, resp.into_string().unwrap())
    };
    let (status, seed_tag, body) = get("/api/repo", None);
    assert_eq!(status, 200);
    let seed_tag = seed_tag.expect("an ETag on the list");
    assert!(body.contains("repoList"));
    let (_, v1_tag, _) = get("/api/v1/repositories", None);
    let v1_tag = v1_tag.expect("an ETag on the v1 list");
    assert_ne!(seed_tag, v1_tag, "the two families' answers differ, so do their tags");

    for header in [seed_tag.clone(), format!("W/{seed_tag}"), format!("\"other\", {seed_tag}"), "*".to_string()] {
        let (status, etag, body) = get("/api/repo", Some(&header));
        assert_eq!((status, etag.as_deref(), body.as_str()), (304, Some(seed_tag.as_str()), ""), "{header}");
    }
    assert_eq!(get("/api/repo", Some("\"stale\"")).0, 200);
    assert_eq!(get("/api/v1/repositories", Some(&seed_tag)).0, 200, "another family's tag is not this answer");

    // A change makes a new answer with a new tag.
    assert_eq!(s.patch("/api/repo/id/0/edit", Some(&t), &json!({"alias": "renamed"})).0, 200);
    let (status, new_tag, body) = get("/api/repo", Some(&seed_tag));
    assert_eq!(status, 200);
    assert!(body.contains("renamed"));
    assert_ne!(new_tag.unwrap(), seed_tag);
    // Credentials come first: a stranger with a good tag gets 401, not 304.
    let stranger = ureq::get(&format!("{}/api/repo", s.url)).set("If-None-Match", &seed_tag).call();
    assert!(matches!(stranger, Err(ureq::Error::Status(401, _))));
}

/// The v1 list pages with `limit` and `offset` (the answer adds `total`); bad values get 400
/// with a message; without them the answer is the whole list, as before.
#[test]
fn the_v1_list_pages() {
    let s = TestServer::start();
    let t = s.full_token();
    for i in 0..5 {
        assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(10 + i, ""))).0, 200);
    }
    let ids = |body: &serde_json::Value| -> Vec<u64> {
        body["repoList"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect()
    };
    let (_, whole) = s.get("/api/v1/repositories", Some(&t));
    assert_eq!((ids(&whole), whole.get("total")), (vec![0, 1, 2, 3, 4], None));
    let (status, page) = s.get("/api/v1/repositories?limit=2&offset=1", Some(&t));
    assert_eq!((status, ids(&page), page["total"].as_u64()), (200, vec![1, 2], Some(5)));
    let (_, page) = s.get("/api/v1/repositories?offset=3", Some(&t));
    assert_eq!((ids(&page), page["total"].as_u64()), (vec![3, 4], Some(5)));
    let (_, page) = s.get("/api/v1/repositories?limit=2&offset=9", Some(&t));
    assert_eq!((ids(&page), page["total"].as_u64()), (vec![], Some(5)));
    assert_eq!(page["repoList"][0], serde_json::Value::Null);
    // Any whole number is an offset the document allows; one beyond 2^64 is past the end too.
    let (status, page) = s.get("/api/v1/repositories?offset=18446744073709551616", Some(&t));
    assert_eq!((status, ids(&page), page["total"].as_u64()), (200, vec![], Some(5)));
    let (_, first) = s.get("/api/v1/repositories?limit=1", Some(&t));
    assert_eq!(first["repoList"][0], whole["repoList"][0], "a page shows repositories as the whole list does");
    for bad in ["limit=0", "limit=10001", "limit=-1", "limit=two", "limit=", "offset=-1", "offset=1.5", "limit=%2B3"] {
        let (status, body) = s.get(&format!("/api/v1/repositories?{bad}"), Some(&t));
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("limit must") || message.starts_with("offset must"), "{bad}: {message}");
    }
}

/// A client that accepts gzip gets the list gzipped (compressed once per change), with a tag
/// of its own; either tag stands for the list in `If-None-Match`. The others get it inflated
/// as it is sent (the server holds only the gzipped copy), whole and with its length.
#[test]
fn the_list_is_gzipped_for_clients_that_accept_it() {
    use std::io::Read;
    let s = TestServer::start();
    let t = s.full_token();
    // Enough repositories for a plain answer of several inflated chunks.
    for i in 0..200 {
        assert_eq!(s.post("/api/repo/add", Some(&t), &repo_body(&ed25519_key(30 + i, ""))).0, 200);
    }
    let fetch = |encoding: &str, if_none_match: Option<&str>| {
        let mut req = ureq::get(&format!("{}/api/v1/repositories", s.url))
            .set("Authorization", &format!("Bearer {t}"))
            .set("Accept-Encoding", encoding);
        if let Some(tag) = if_none_match {
            req = req.set("If-None-Match", tag);
        }
        let resp = req.call().unwrap();
        let head = (
            resp.status(),
            resp.header("Content-Encoding").map(str::to_string),
            resp.header("ETag").unwrap().to_string(),
        );
        let length = resp.header("Content-Length").map(|l| l.parse::<usize>().unwrap());
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body).unwrap();
        if head.0 == 200 {
            assert_eq!(length, Some(body.len()), "Content-Length is the body's length");
        }
        (head, body)
    };
    let ((status, encoding, plain_tag), plain) = fetch("identity", None);
    assert_eq!((status, encoding), (200, None));
    let list: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(list["repoList"].as_array().unwrap().len(), 200);
    assert!(plain.len() > 64 * 1024, "only {} bytes: not several chunks", plain.len());
    let ((status, encoding, gz_tag), gz) = fetch("br, gzip", None);
    assert_eq!((status, encoding.as_deref()), (200, Some("gzip")));
    assert_ne!(gz_tag, plain_tag, "two representations, two tags");
    assert!(gz.len() * 4 < plain.len(), "{} gzipped bytes for {} plain", gz.len(), plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain, "the gzipped list is the list");
    assert_eq!(fetch("gzip;q=0", None).0 .1, None, "q=0 refuses gzip");
    for tag in [&plain_tag, &gz_tag] {
        let ((status, _, etag), body) = fetch("gzip", Some(tag));
        assert_eq!((status, etag.as_str(), body.len()), (304, gz_tag.as_str(), 0), "{tag}");
    }
}

/// A large list (over 2,000 repositories) is held gzipped in an unlinked file of the data
/// folder, not in the heap: both representations come from it, whole, with their lengths, and
/// the data folder shows no file for it.
#[test]
fn a_large_list_is_sent_whole_from_its_file_in_both_encodings() {
    use std::io::Read;
    let s = TestServer::start();
    let t = s.full_token();
    let news: Vec<bw_store::repo_store::NewRepo> = (0..2_100)
        .map(|i| bw_store::repo_store::NewRepo {
            alias: format!("host-{i}"),
            key: bw_host::ssh_key::ClientKey::parse(&ed25519_key(10_000 + i, "")).unwrap(),
            storage_size: 1,
            comment: String::new(),
            alert: 0,
            lan_command: false,
            append_only_mode: false,
            icon: None,
            storage_target: None,
            tenant: None,
        })
        .collect();
    s.block_on(s.state.repos.create_many(news)).unwrap();
    let fetch = |encoding: &str| {
        let resp = ureq::get(&format!("{}/api/v1/repositories", s.url))
            .set("Authorization", &format!("Bearer {t}"))
            .set("Accept-Encoding", encoding)
            .call()
            .unwrap();
        let length = resp.header("Content-Length").map(|l| l.parse::<usize>().unwrap());
        let gzip = resp.header("Content-Encoding") == Some("gzip");
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body).unwrap();
        assert_eq!(length, Some(body.len()), "Content-Length is the body's length");
        (gzip, body)
    };
    let (gzip, plain) = fetch("identity");
    assert!(!gzip);
    let list: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(list["repoList"].as_array().unwrap().len(), 2_100);
    let (gzip, gz) = fetch("gzip");
    assert!(gzip);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain, "the gzipped list is the list");
    let data_after: Vec<_> =
        std::fs::read_dir(&s.state.config.server.data_dir).unwrap().flatten().map(|e| e.file_name()).collect();
    // tempfile names a file `.tmp…` where the filesystem has no O_TMPFILE, and unlinks it at once.
    assert!(
        !data_after.iter().any(|n| n.to_string_lossy().starts_with(".tmp")),
        "the list's file is left: {data_after:?}"
    );
}
