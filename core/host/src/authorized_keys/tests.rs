//! The file's forms, foreign lines, atomic writes; and properties over generated input.

use super::*;

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@host";

fn line(name: &str, gb: u64, ao: bool) -> RepoLine {
    RepoLine { name: name.into(), storage_size_gb: gb, append_only: ao, key: KEY_A.into(), archived: false }
}

fn setup() -> (tempfile::TempDir, AuthorizedKeys) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let ak = AuthorizedKeys::new(home.join(".ssh/authorized_keys"), home.join("repos"));
    (dir, ak)
}

#[test]
fn renders_the_contract_form() {
    let ak = AuthorizedKeys::new("/h/.ssh/authorized_keys".into(), "/h/repos".into());
    assert_eq!(
        ak.render(&line("c1ddd097", 100, false)),
        format!("command=\"cd /h/repos;borg serve --restrict-to-repository /h/repos/c1ddd097 --storage-quota 100G\",restrict {KEY_A}")
    );
    assert_eq!(
        ak.render(&line("c1ddd097", 5, true)),
        format!("command=\"cd /h/repos;borg serve --append-only --restrict-to-repository /h/repos/c1ddd097 --storage-quota 5G\",restrict {KEY_A}")
    );
}

/// With sessions recorded, `borg serve` runs under the recorder, and the restrictions stay on
/// the line for an administrator to read. Both forms are read back as ours, and a sync turns
/// a line of the other form into this one.
#[test]
fn a_line_under_the_session_recorder_keeps_its_restrictions_visible_and_reads_back() {
    let (_d, plain) = setup();
    let recorder = Recorder { program: "/usr/bin/borgwarehouse".into(), spool: "/srv/spool".into() };
    let recorded = plain.clone().with_recorder(Some(recorder));
    let pool = plain.path().parent().unwrap().parent().unwrap().join("repos");
    let pool = pool.display();
    let id = crate::ssh_key::key_id(KEY_A).unwrap();
    assert_eq!(id.len(), 16);
    let text = recorded.render(&line("c1ddd097", 5, true));
    assert_eq!(
        text,
        format!(
            "command=\"cd {pool};/usr/bin/borgwarehouse session --spool /srv/spool --repository c1ddd097 --key {id} -- \
             borg serve --append-only --restrict-to-repository {pool}/c1ddd097 --storage-quota 5G\",restrict {KEY_A}"
        )
    );
    // Each reads both forms back, whatever recorder path wrote the line.
    let other_path = text.replace("/usr/bin/borgwarehouse", "/usr/local/bin/borgwarehouse");
    for ak in [&plain, &recorded] {
        assert_eq!(ak.parse_ours(&text), Some(line("c1ddd097", 5, true)));
        assert_eq!(ak.parse_ours(&other_path), Some(line("c1ddd097", 5, true)));
        assert_eq!(ak.parse_ours(&plain.render(&line("c1ddd097", 5, true))), Some(line("c1ddd097", 5, true)));
    }
    // A quoted command of someone else that mentions borg serve is not ours.
    let foreign = format!("command=\"cd {pool};echo -- borg serve\",restrict {KEY_A}");
    assert_eq!(recorded.parse_ours(&foreign), None);

    plain.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
    let r = recorded.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
    assert_eq!((r.rewritten, r.added, r.removed), (vec!["aaaaaaaa".to_string()], vec![], vec![]));
    assert!(fs::read_to_string(recorded.path())
        .unwrap()
        .contains(" session --spool /srv/spool --repository aaaaaaaa "));
    assert!(!recorded.sync(&[line("aaaaaaaa", 1, false)]).unwrap().written, "a second start rewrites nothing");
}

#[test]
fn only_plain_paths_go_on_the_line() {
    for ok in ["/usr/bin/borgwarehouse", "/srv/borg/repos/.sessions"] {
        assert!(Recorder::plain_path(ok), "{ok}");
    }
    for bad in ["relative/path", "/with space", "/quote\"d", "/semi;colon", "/dollar$", "/back`tick", "/new\nline"] {
        assert!(!Recorder::plain_path(bad), "{bad}");
    }
}

#[test]
fn keeps_foreign_lines_in_place_and_writes_private_file() {
    let (_d, ak) = setup();
    let foreign = "# admin\r\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm admin\n\n  spaced line \t\n";
    fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
    fs::write(ak.path(), foreign).unwrap();

    let r = ak.sync(&[line("aaaaaaaa", 1, false), line("bbbbbbbb", 2, false)]).unwrap();
    assert_eq!(r.added, vec!["aaaaaaaa", "bbbbbbbb"]);
    let text = fs::read_to_string(ak.path()).unwrap();
    assert!(text.starts_with(foreign), "{text}");
    assert_eq!(fs::metadata(ak.path()).unwrap().permissions().mode() & 0o777, 0o600);

    // Edit the first: rewritten in place; delete the second: dropped; foreign untouched.
    let r = ak.sync(&[line("aaaaaaaa", 9, true)]).unwrap();
    assert_eq!((r.rewritten.clone(), r.removed.clone()), (vec!["aaaaaaaa".to_string()], vec!["bbbbbbbb".to_string()]));
    let text = fs::read_to_string(ak.path()).unwrap();
    assert_eq!(text, format!("{foreign}{}\n", ak.render(&line("aaaaaaaa", 9, true))));

    // Nothing to change: nothing written.
    assert!(!ak.sync(&[line("aaaaaaaa", 9, true)]).unwrap().written);
}

#[test]
fn our_lines_read_back() {
    let (_d, ak) = setup();
    for l in [line("aaaaaaaa", 100, false), line("bbbbbbbb", 1, true)] {
        assert_eq!(ak.parse_ours(&ak.render(&l)), Some(l));
    }
    assert_eq!(ak.parse_ours(KEY_A), None);
}

/// BorgWarehouse's forms: `--restrict-to-path` (before 3.1.3) and `--restrict-to-repository`,
/// with or without `--append-only`, active or behind `#BW-ARCHIVED `; all read back, and a
/// sync rewrites them to the current form in place.
#[test]
fn borgwarehouse_forms_are_ours() {
    let (_d, ak) = setup();
    let pool = ak.path().parent().unwrap().parent().unwrap().join("repos");
    let p = pool.display();
    let old = format!("command=\"cd {p};borg serve --append-only --restrict-to-path {p}/aaaaaaaa --storage-quota 500G\",restrict {KEY_A}");
    let archived = format!("#BW-ARCHIVED command=\"cd {p};borg serve --restrict-to-repository {p}/bbbbbbbb --storage-quota 20G\",restrict {KEY_A}");
    let elsewhere = format!("command=\"cd /other/repos;borg serve --restrict-to-path /other/repos/cccccccc --storage-quota 1G\",restrict {KEY_A}");
    let a = ak.parse_ours(&old).unwrap();
    assert_eq!((a.name.as_str(), a.storage_size_gb, a.append_only, a.archived), ("aaaaaaaa", 500, true, false));
    let b = ak.parse_ours(&archived).unwrap();
    assert_eq!((b.name.as_str(), b.storage_size_gb, b.append_only, b.archived), ("bbbbbbbb", 20, false, true));
    assert_eq!(ak.parse_ours(&elsewhere), None, "another pool's line is not ours");
    assert_eq!(ak.parse_ours("#BW-ARCHIVED just a comment"), None);
    assert_eq!(ak.render(&b), archived, "an archived line renders as BorgWarehouse writes it");

    fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
    fs::write(ak.path(), format!("{old}\n{elsewhere}\n{archived}\n")).unwrap();
    let r = ak.sync(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(r.rewritten, vec!["aaaaaaaa"]);
    let text = fs::read_to_string(ak.path()).unwrap();
    assert_eq!(text, format!("{}\n{elsewhere}\n{archived}\n", ak.render(&a)));
    assert!(text.lines().next().unwrap().contains("--restrict-to-repository"), "{text}");
}

#[test]
fn foreign_keys_exclude_ours() {
    let (_d, ak) = setup();
    ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
    assert!(ak.foreign_keys().unwrap().is_empty());
    let mut text = fs::read_to_string(ak.path()).unwrap();
    text.push_str("no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x\n");
    fs::write(ak.path(), text).unwrap();
    assert_eq!(ak.foreign_keys().unwrap().len(), 1);
}

#[test]
fn duplicate_and_stale_lines_of_ours_are_fixed() {
    let (_d, ak) = setup();
    let a = ak.render(&line("aaaaaaaa", 1, false));
    fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
    fs::write(ak.path(), format!("{a}\nx\n{a}\n{}\n", ak.render(&line("deadbeef", 1, false)))).unwrap();
    let r = ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
    assert_eq!(r.removed, vec!["aaaaaaaa", "deadbeef"]);
    assert_eq!(fs::read_to_string(ak.path()).unwrap(), format!("{a}\nx\n"));
}

/// Properties of the key validator and the line renderer over generated input: whatever a
/// client sends, an accepted key becomes exactly one line that pins exactly its repository.
mod properties {
    use super::super::*;
    use crate::ssh_key::{key_on_line, ClientKey, ALLOWED_TYPES};
    use base64::Engine;
    use proptest::prelude::*;

    fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }

    /// Well-formed ed25519 and RSA blobs with arbitrary key material, plus arbitrary bytes.
    fn key_text() -> impl Strategy<Value = String> {
        let ed = proptest::collection::vec(any::<u8>(), 32).prop_map(|point| {
            let mut blob = Vec::new();
            ssh_string(&mut blob, b"ssh-ed25519");
            ssh_string(&mut blob, &point);
            ("ssh-ed25519", blob)
        });
        let rsa = (proptest::collection::vec(any::<u8>(), 200..300), 1u8..=255).prop_map(|(mut n, top)| {
            n.insert(0, top);
            n.insert(0, 0);
            let mut blob = Vec::new();
            ssh_string(&mut blob, b"ssh-rsa");
            ssh_string(&mut blob, &[1, 0, 1]);
            ssh_string(&mut blob, &n);
            ("ssh-rsa", blob)
        });
        let junk = (proptest::sample::select(ALLOWED_TYPES.to_vec()), proptest::collection::vec(any::<u8>(), 0..120));
        let keyed = prop_oneof![ed, rsa, junk];
        (keyed, "\\PC{0,40}", any::<bool>(), "[ \\t\\r\\n\"\\\\,=a-z]{0,6}").prop_map(
            |((kind, blob), comment, with_comment, noise)| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
                let mut s = if with_comment { format!("{kind} {b64} {comment}") } else { format!("{kind} {b64}") };
                s.push_str(&noise);
                s
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn any_text_never_panics(text in "\\PC{0,300}") {
            let _ = ClientKey::parse(&text);
            let _ = key_on_line(&text);
        }

        #[test]
        fn an_accepted_key_renders_one_line_pinned_to_its_repository(
            text in key_text(),
            name in "[0-9a-f]{8}",
            quota in 1u64..=1_000_000,
            append_only in any::<bool>(),
        ) {
            // Rejected inputs are discarded (and counted: proptest fails if too few are accepted).
            let parsed = ClientKey::parse(&text);
            prop_assume!(parsed.is_ok());
            let key = parsed.unwrap();
            let ak = AuthorizedKeys::new("/home/borg/.ssh/authorized_keys".into(), "/home/borg/repos".into());
            let line = ak.render(&RepoLine { name: name.clone(), storage_size_gb: quota, append_only, key: key.to_openssh(), archived: false });
            prop_assert!(!line.chars().any(char::is_control), "control character in {line:?}");
            prop_assert_eq!(line.lines().count(), 1);
            // The key on the line is the key that was accepted.
            prop_assert_eq!(key_on_line(&line), Some(key.identity()));
            // The forced command names exactly this repository, and only once.
            prop_assert_eq!(ak.ours(line.as_bytes()), Some(name.as_bytes()));
            let command_end = line.find("\",restrict ").unwrap();
            let command = &line[..command_end];
            prop_assert!(!command[9..].contains('"'), "a quote inside the forced command: {line:?}");
            prop_assert_eq!(command.matches("--restrict-to-repository").count(), 1);
            let expected_repo = format!("--restrict-to-repository /home/borg/repos/{name} ");
            prop_assert!(command.contains(&expected_repo));
            prop_assert_eq!(command.contains("--append-only"), append_only);
        }
    }
}

mod incremental {
    use super::*;
    use crate::authorized_keys::KeyChange;

    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLAbQvO4tD8Sw5B0mPxhrrmVttuMjUhl4k1yQmEQ4RF b@host";
    const FOREIGN: &str =
        "# the admin's own\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm admin\n";

    fn keyed(name: &str, gb: u64, ao: bool, key: &str) -> RepoLine {
        RepoLine { name: name.into(), storage_size_gb: gb, append_only: ao, key: key.into(), archived: false }
    }

    fn inode(ak: &AuthorizedKeys) -> u64 {
        fs::metadata(ak.path()).unwrap().ino()
    }

    /// Our lines as sshd reads them: blank lines skipped.
    fn ours_in_file(ak: &AuthorizedKeys) -> Vec<RepoLine> {
        let mut l = ak.lines_of_ours().unwrap();
        l.sort_by(|a, b| a.name.cmp(&b.name));
        l
    }

    #[test]
    fn create_edit_delete_change_only_their_bytes_of_the_file_this_server_wrote() {
        let (_d, ak) = setup();
        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), FOREIGN).unwrap();
        ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
        let ino = inode(&ak);

        let b = keyed("bbbbbbbb", 2, false, KEY_B);
        assert!(ak.apply(&KeyChange::Added(vec![b.clone()])).unwrap(), "an append");
        // Same length (quota 2 -> 3): in place. Longer (append-only): appended, old blanked.
        let b3 = keyed("bbbbbbbb", 3, false, KEY_B);
        assert!(ak.apply(&KeyChange::Replaced { old: vec![b.clone()], new: vec![b3.clone()] }).unwrap());
        let b3ao = keyed("bbbbbbbb", 3, true, KEY_B);
        assert!(ak.apply(&KeyChange::Replaced { old: vec![b3], new: vec![b3ao.clone()] }).unwrap());
        assert_eq!(ours_in_file(&ak), vec![line("aaaaaaaa", 1, false), b3ao.clone()]);
        assert!(ak.apply(&KeyChange::Removed(vec![line("aaaaaaaa", 1, false)])).unwrap());
        assert_eq!(ours_in_file(&ak), vec![b3ao.clone()]);
        assert_eq!(inode(&ak), ino, "the file was replaced, not changed in place");

        let text = fs::read_to_string(ak.path()).unwrap();
        assert!(text.starts_with(FOREIGN), "{text}");
        assert!(text.lines().all(|l| l.is_empty() || !l.starts_with(' ') || l.trim().is_empty()), "{text}");
        assert!(text.ends_with('\n'));
        // A whole-file write drops the blanked lines and keeps the rest.
        let report = ak.sync(std::slice::from_ref(&b3ao)).unwrap();
        assert!(report.added.is_empty() && report.rewritten.is_empty() && report.removed.is_empty(), "{report:?}");
        assert_eq!(fs::read_to_string(ak.path()).unwrap(), format!("{FOREIGN}{}\n", ak.render(&b3ao)));
    }

    /// A repository with several keys has one line per key: a key added is appended, a key
    /// removed blanked, a quota change rewrites each line, and a sync keeps them all.
    #[test]
    fn a_repository_with_two_keys_has_two_lines_each_changed_in_place() {
        let (_d, ak) = setup();
        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), FOREIGN).unwrap();
        let a = keyed("aaaaaaaa", 1, false, KEY_A);
        ak.sync(std::slice::from_ref(&a)).unwrap();
        let ino = inode(&ak);
        let b = keyed("aaaaaaaa", 1, true, KEY_B);
        assert!(ak.apply(&KeyChange::Replaced { old: vec![a.clone()], new: vec![a.clone(), b.clone()] }).unwrap());
        assert_eq!(ours_in_file(&ak).len(), 2);
        let (a2, b2) = (keyed("aaaaaaaa", 2, false, KEY_A), keyed("aaaaaaaa", 2, true, KEY_B));
        let both = vec![a.clone(), b.clone()];
        assert!(ak.apply(&KeyChange::Replaced { old: both, new: vec![a2.clone(), b2.clone()] }).unwrap());
        let mut want = vec![a2.clone(), b2.clone()];
        want.sort_by(|x, y| x.key.cmp(&y.key));
        let mut got = ours_in_file(&ak);
        got.sort_by(|x, y| x.key.cmp(&y.key));
        assert_eq!(got, want);
        // The first key removed: the second goes on alone.
        assert!(ak.apply(&KeyChange::Replaced { old: vec![a2.clone(), b2.clone()], new: vec![b2.clone()] }).unwrap());
        assert_eq!(ours_in_file(&ak), vec![b2.clone()]);
        assert_eq!(inode(&ak), ino, "changed in place");
        // A line of a key the repository no longer has is dropped by a sync, the other kept.
        let report = ak.sync(std::slice::from_ref(&b2)).unwrap();
        assert!(report.removed.is_empty() && report.added.is_empty(), "{report:?}");
        let report = ak.sync(&[a2.clone(), b2.clone()]).unwrap();
        assert_eq!(report.added, vec!["aaaaaaaa"]);
        let report = ak.sync(std::slice::from_ref(&a2)).unwrap();
        assert_eq!(report.removed, vec!["aaaaaaaa"]);
        assert_eq!(ours_in_file(&ak), vec![a2]);
    }

    #[test]
    fn a_restart_keeps_a_file_whose_only_difference_is_blanked_lines() {
        let (_d, ak) = setup();
        fs::create_dir_all(ak.path().parent().unwrap()).unwrap();
        fs::write(ak.path(), FOREIGN).unwrap();
        let (a, b, c) = (line("aaaaaaaa", 1, false), keyed("bbbbbbbb", 2, false, KEY_B), line("cccccccc", 3, true));
        ak.sync(&[a.clone(), b.clone()]).unwrap();
        assert!(ak.apply(&KeyChange::Removed(vec![a.clone()])).unwrap());
        let before = fs::read(ak.path()).unwrap();
        // A new start (or a restore) reads the same lines: the file stays byte for byte.
        let again = AuthorizedKeys::new(ak.path().to_path_buf(), _d.path().join("repos"));
        let report = again.sync(std::slice::from_ref(&b)).unwrap();
        assert!(!report.written, "{report:?}");
        assert_eq!(fs::read(ak.path()).unwrap(), before);
        // Its changes go on in place, at the lines' real offsets.
        let ino = inode(&again);
        assert!(again.apply(&KeyChange::Added(vec![c.clone()])).unwrap());
        assert!(again.apply(&KeyChange::Removed(vec![b.clone()])).unwrap());
        assert_eq!(ours_in_file(&again), vec![c.clone()]);
        assert_eq!(inode(&again), ino);
        assert!(fs::read_to_string(ak.path()).unwrap().starts_with(FOREIGN));
    }

    #[test]
    fn a_file_edited_by_hand_is_rewritten_whole() {
        let (_d, ak) = setup();
        ak.sync(&[line("aaaaaaaa", 1, false)]).unwrap();
        let mut f = fs::OpenOptions::new().append(true).open(ak.path()).unwrap();
        std::io::Write::write_all(&mut f, b"# added by hand\n").unwrap();
        drop(f);
        let b = keyed("bbbbbbbb", 2, false, KEY_B);
        assert!(!ak.apply(&KeyChange::Added(vec![b.clone()])).unwrap(), "applied over a hand edit");
        assert!(!fs::read_to_string(ak.path()).unwrap().contains("bbbbbbbb"), "wrote although it said it did not");
        ak.sync(&[line("aaaaaaaa", 1, false), b.clone()]).unwrap();
        assert!(fs::read_to_string(ak.path()).unwrap().contains("# added by hand"));
        assert!(ak.apply(&KeyChange::Removed(vec![b])).unwrap(), "after the rewrite, changes are in place again");
    }

    #[test]
    fn once_half_the_file_is_blanked_the_next_change_rewrites_it() {
        let (_d, ak) = setup();
        ak.sync(&[line("aaaaaaaa", 1, false), keyed("bbbbbbbb", 2, false, KEY_B)]).unwrap();
        assert!(ak.apply(&KeyChange::Removed(vec![line("aaaaaaaa", 1, false)])).unwrap());
        assert!(ak.apply(&KeyChange::Removed(vec![keyed("bbbbbbbb", 2, false, KEY_B)])).unwrap());
        assert!(!ak.apply(&KeyChange::Added(vec![line("cccccccc", 1, false)])).unwrap(), "no compaction");
    }
}
