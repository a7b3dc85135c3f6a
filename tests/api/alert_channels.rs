//! The alert channels, as a sysadmin checks them before an outage does: which are configured,
//! and a test alert through each, to a real SMTP sink and a real HTTP receiver.

use bw_tests::sinks::{HttpReceiver, SmtpSink};
use bw_tests::{json, TestServer};

#[test]
fn a_test_alert_goes_through_each_configured_channel_and_is_not_logged() {
    let smtp = SmtpSink::start();
    let hook = HttpReceiver::start();
    let s = TestServer::with_config(|c| bw_tests::alert_to(c, smtp.port, Some(format!("{}/hook", hook.url))));
    let admin = s.create_admin();
    let reader = s.token("reader", "read");

    let (status, channels) = s.get("/api/v1/alerts/channels", Some(&reader));
    assert_eq!(status, 200, "{channels}");
    assert_eq!(
        channels,
        json!({"channels": [
            {"name": "email", "configured": true},
            {"name": "webhook", "configured": true},
            {"name": "apprise", "configured": false},
        ]})
    );

    // Only the administrator sends one: an API token is not a credential this route takes.
    let (status, _) = s.post("/api/v1/alerts/test", Some(&reader), &json!({}));
    assert_eq!(status, 401);
    assert!(smtp.mails().is_empty() && hook.requests().is_empty());

    let (status, sent) = s.call("POST", "/api/v1/alerts/test", Some(&admin), None);
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        sent,
        json!({"channels": [{"name": "email", "delivered": true}, {"name": "webhook", "delivered": true}]})
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].data.contains("Subject: BorgWarehouse: a test alert"), "{}", mails[0].data);
    let calls = hook.requests();
    assert_eq!(calls.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!((body["status"].as_str(), body["repos"].clone()), (Some("test"), json!([])), "{body}");
    // About no repository: not among the alerts that fired.
    let (_, fired) = s.get("/api/v1/alerts", Some(&reader));
    assert_eq!(fired["alerts"], json!([]), "{fired}");
}

#[test]
fn with_no_channel_a_test_alert_says_so() {
    let s = TestServer::start();
    let admin = s.create_admin();
    let (status, sent) = s.call("POST", "/api/v1/alerts/test", Some(&admin), None);
    assert_eq!((status, sent), (200, json!({"channels": []})));
    let (_, channels) = s.get("/api/v1/alerts/channels", Some(&admin));
    assert!(channels["channels"].as_array().unwrap().iter().all(|c| c["configured"] == false), "{channels}");
}

/// #33: an admin changes the channels from the page, over the environment, without a restart:
/// the next alert goes where the page says; secrets are written, never answered, and not in the
/// audit log; `null` gives a setting back to the environment; a bad value changes nothing.
#[test]
fn an_admin_changes_the_channels_in_the_page_over_the_environment() {
    let smtp = SmtpSink::start();
    let env_hook = HttpReceiver::start();
    let page_hook = HttpReceiver::start();
    // The environment: a webhook, and a mail server but no recipient.
    let s = TestServer::with_config(|c| {
        bw_tests::alert_to(c, smtp.port, Some(format!("{}/env", env_hook.url)));
        c.plugins.update(|a: &mut bw_plugin_alerts::ChannelSettings| a.email_to = None);
    });
    let admin = s.create_admin();
    s.post(
        "/api/v1/users",
        Some(&admin),
        &json!({"name": "olga", "role": "operator", "password": "olga's long password"}),
    );
    let operator = bw_tests::basic("olga", "olga's long password");

    let (status, before) = s.get("/api/v1/alerts/settings", Some(&admin));
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["webhookUrl"], format!("{}/env", env_hook.url));
    assert_eq!((before["emailTo"].clone(), before["fromPage"].clone()), (json!(null), json!([])));
    // Only an admin reads or changes them.
    assert_eq!(s.get("/api/v1/alerts/settings", Some(&operator)).0, 403);
    assert_eq!(s.patch("/api/v1/alerts/settings", Some(&operator), &json!({"emailTo": "x@example.org"})).0, 403);

    // Bad values: 422 naming the field, nothing changed.
    for bad in [
        json!({"webhookUrl": "ftp://hooks.example.org"}),
        json!({"emailTo": "not an address"}),
        json!({"smtpPort": 0}),
        json!({"smtpPort": "smtp"}),
        json!({"appriseMode": "carrier pigeon"}),
        json!({"webhookSecret": "a\u{0}b"}),
        json!({"colour": "red"}),
        json!({}),
    ] {
        let (status, answer) = s.patch("/api/v1/alerts/settings", Some(&admin), &bad);
        assert!(status == 422 || status == 400, "{bad}: {status} {answer}");
        assert_eq!(s.get("/api/v1/alerts/settings", Some(&admin)).1, before, "{bad} changed something");
    }

    // The page sends alerts to its own webhook, signed, and by email too.
    let secret = "a page-set signing secret";
    let change =
        json!({"webhookUrl": format!("{}/page", page_hook.url), "webhookSecret": secret, "emailTo": "ops@example.org"});
    let (status, after) = s.patch("/api/v1/alerts/settings", Some(&admin), &change);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["webhookUrl"], format!("{}/page", page_hook.url));
    assert_eq!((after["webhookSecretSet"].clone(), after["emailTo"].clone()), (json!(true), json!("ops@example.org")));
    assert_eq!(after["fromPage"], json!(["emailTo", "webhookUrl", "webhookSecret"]));
    assert!(!after.to_string().contains(secret), "the secret answered back: {after}");
    let (_, channels) = s.get("/api/v1/alerts/channels", Some(&admin));
    assert_eq!(channels["channels"][0], json!({"name": "email", "configured": true}));

    let (status, sent) = s.call("POST", "/api/v1/alerts/test", Some(&admin), None);
    assert_eq!(status, 200, "{sent}");
    assert!(env_hook.requests().is_empty(), "the environment's webhook was used");
    let calls = page_hook.requests();
    assert_eq!(calls.len(), 1);
    let expected = bw_plugin_alerts::signature(secret, &calls[0].body);
    assert_eq!(calls[0].header(bw_plugin_alerts::SIGNATURE_HEADER), Some(expected.as_str()));
    assert!(smtp.mails().iter().any(|m| m.to.iter().any(|t| t.contains("ops@example.org"))), "no mail to ops@");

    // `""` turns the webhook off over the environment's; `null` gives it back.
    let (_, off) = s.patch("/api/v1/alerts/settings", Some(&admin), &json!({"webhookUrl": ""}));
    assert_eq!(off["webhookUrl"], json!(null));
    let (_, channels) = s.get("/api/v1/alerts/channels", Some(&admin));
    assert_eq!(channels["channels"][1], json!({"name": "webhook", "configured": false}));
    let (_, back) =
        s.patch("/api/v1/alerts/settings", Some(&admin), &json!({"webhookUrl": null, "webhookSecret": null}));
    assert_eq!(back["webhookUrl"], format!("{}/env", env_hook.url));
    assert_eq!(back["fromPage"], json!(["emailTo"]));

    // The audit log names the fields, never the secret.
    let (_, audit) = s.get("/api/v1/audit?action=alerts.settings", Some(&admin));
    assert_eq!(audit.as_array().unwrap().len(), 3, "{audit}");
    assert!(!audit.to_string().contains(secret), "the secret in the audit log: {audit}");
    assert!(audit.to_string().contains("(set)"), "{audit}");
}
