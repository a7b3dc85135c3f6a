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
