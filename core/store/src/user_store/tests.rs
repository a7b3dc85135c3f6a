//! The user store's tests.

use super::*;
use crate::sign_ins::SignIns;

fn store() -> UserStore {
    UserStore::open(&crate::backend::temporary_sled()).unwrap()
}

const PW: &str = "a long enough password";

fn add(s: &UserStore, name: &str, role: Role) -> User {
    s.add(NewUser { name, role, email: None, tenant: None, password: PW }, 10, None).unwrap()
}

#[test]
fn the_last_admin_is_neither_removed_nor_demoted() {
    let s = store();
    add(&s, "ada", Role::Admin);
    add(&s, "op", Role::Operator);
    assert!(matches!(s.remove("ada", None), Err(StoreError::LastAdmin)));
    let demote = UserChange { role: Some(Role::Viewer), ..Default::default() };
    assert!(matches!(s.change("ada", demote, None), Err(StoreError::LastAdmin)));
    assert_eq!(s.get("ada").unwrap().unwrap().role, Role::Admin, "nothing changed");
    s.change("op", UserChange { role: Some(Role::Admin), ..Default::default() }, None).unwrap();
    s.remove("ada", None).unwrap();
    assert!(s.get("ada").unwrap().is_none());
    assert!(matches!(s.remove("op", None), Err(StoreError::LastAdmin)));
}

#[test]
fn passwords_verify_and_unknown_names_do_not() {
    let s = store();
    add(&s, "ada", Role::Operator);
    assert_eq!(s.verify("ada", PW).unwrap().map(|u| u.role), Some(Role::Operator));
    assert!(s.verified_before("ada", PW).unwrap().is_some());
    assert_eq!(s.verify("ada", "wrong password!!").unwrap(), None);
    assert_eq!(s.verify("bob", PW).unwrap(), None);
    s.change("ada", UserChange { password: Some("another long password"), ..Default::default() }, None).unwrap();
    assert!(s.verified_before("ada", PW).unwrap().is_none(), "a new password forgets the old proof");
    assert_eq!(s.verify("ada", PW).unwrap(), None);
}

#[test]
fn names_emails_and_tenants_are_checked_and_unique() {
    let s = store();
    add(&s, "ada", Role::Admin);
    let new = |name, email, tenant| NewUser { name, role: Role::Viewer, email, tenant, password: PW };
    assert!(matches!(s.add(new("ada", None, None), 1, None), Err(StoreError::UserExists)));
    assert!(matches!(s.add(new("a/b", None, None), 1, None), Err(StoreError::InvalidUserName)));
    assert!(matches!(s.add(new("b", Some("no-at"), None), 1, None), Err(StoreError::InvalidEmail)));
    assert!(matches!(s.add(new("b", None, Some("a b")), 1, None), Err(StoreError::InvalidTenantName)));
    s.add(new("b", Some("B@example.org"), Some("acme")), 1, None).unwrap();
    assert!(matches!(s.add(new("c", Some("b@EXAMPLE.org"), None), 1, None), Err(StoreError::EmailInUse)));
    assert_eq!(s.by_email("b@example.ORG").unwrap().unwrap().name, "b");
    let admin_of_tenant = NewUser { name: "t", role: Role::Admin, email: None, tenant: Some("acme"), password: PW };
    assert!(matches!(s.add(admin_of_tenant, 1, None), Err(StoreError::TenantAdmin)));
}

/// BorgWarehouse's users.json, as its 2.4.4 and 3.6.0 fixtures have it (bcrypt of `admin`).
#[test]
fn borgwarehouse_users_keep_their_passwords_which_become_argon2_at_the_next_sign_in() {
    let s = store();
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/borgwarehouse-3.6.0/users.json"
    ))
    .unwrap();
    let users: Vec<serde_json::Value> = serde_json::from_str(&fixture).unwrap();
    let dry = s.import_borgwarehouse(&users, true, 5, None).unwrap();
    assert_eq!(dry.added, ["admin"]);
    assert!(s.list().unwrap().is_empty(), "a dry run changes nothing");
    s.import_borgwarehouse(&users, false, 5, None).unwrap();
    let bcrypt_hash = s.record("admin").unwrap().unwrap().password_hash;
    assert!(bcrypt_hash.starts_with("$2a$"), "{bcrypt_hash}");
    assert_eq!(s.verify("admin", "not admin").unwrap(), None);
    assert_eq!(s.record("admin").unwrap().unwrap().password_hash, bcrypt_hash, "a wrong password changes nothing");
    let admin = s.verify("admin", "admin").unwrap().unwrap();
    assert_eq!((admin.role, admin.email.as_deref()), (Role::Admin, Some("admin@example.com")));
    let now = s.record("admin").unwrap().unwrap().password_hash;
    assert!(now.starts_with("$argon2id$"), "re-hashed at the sign-in: {now}");
    assert!(s.verify("admin", "admin").unwrap().is_some(), "and the password still works");
    // Again: the name exists now, skipped and said.
    let again = s.import_borgwarehouse(&users, false, 6, None).unwrap();
    assert_eq!(again.skipped, [("admin".to_string(), "a user of that name exists here".to_string())]);
    let bad = [serde_json::json!({"username": "x", "password": "plain text"})];
    assert!(matches!(s.import_borgwarehouse(&bad, false, 7, None), Err(StoreError::ImportRefused { .. })));
}

#[test]
fn the_administrator_of_a_format_2_store_becomes_the_first_admin_with_its_sign_ins() {
    let db = crate::backend::temporary_sled();
    let phc = hash_password(PW).unwrap();
    let legacy = db.table(LEGACY_ADMIN).unwrap();
    legacy
        .insert(LEGACY_ACCOUNT, serde_json::to_vec(&serde_json::json!({"user": "root", "phc": phc})).unwrap())
        .unwrap();
    let old_sign_in = SignIns::open(&db).unwrap().create_legacy(100, 600).unwrap();

    let s = UserStore::open(&db).unwrap();
    let root = s.get("root").unwrap().unwrap();
    assert_eq!((root.role, root.tenant, root.created_at), (Role::Admin, None, 0));
    assert_eq!(s.verify("root", PW).unwrap().map(|u| u.name), Some("root".into()));
    assert_eq!(s.sign_ins.use_token(&old_sign_in, 200, 600).unwrap().map(|(_, u)| u), Some("root".into()));
    assert!(legacy.get(LEGACY_ACCOUNT).unwrap().is_none(), "taken over once");
    drop(s);
    assert_eq!(UserStore::open(&db).unwrap().list().unwrap().len(), 1);
}
