//! The change notifications (`LISTEN/NOTIFY`): each write tells the other servers which table
//! (and key) changed; each server listens on a connection of its own.

use std::sync::Arc;
use std::time::Duration;

use super::connection::{backend_error, prepared, Connector};
use crate::backend::seam::{Batch, Change, ChangeListener};
use crate::store_error::StoreResult;

/// The channel of the change notifications: `INSTANCE@MICROS TABLE [KEY [VALUE]]`, sent with
/// the write's commit: the sender, the database's clock at the commit, the table, the key (in
/// hex) when the write was of one key, and its new value when short.
pub(super) const CHANGES: &str = "bw_changes";

/// One key written (with its new value, `None` when removed), as a notification tells it.
pub(super) type Written<'a> = (&'a [u8], Option<&'a [u8]>);

/// Values up to this length travel in the notification (the change count: 9 bytes).
const TOLD_VALUE: usize = 64;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tells the other servers that `table` changed (at the key `written`, for a write of one
/// key); inside a transaction, at its commit.
pub(super) async fn notify(
    db: &impl deadpool_postgres::GenericClient,
    instance: &str,
    table: &str,
    written: Option<Written<'_>>,
) -> StoreResult<()> {
    let mut payload = format!("{instance}@{{}} {table}");
    // A notification carries 8,000 bytes at most: a longer key is told as a whole table.
    if let Some((k, value)) = written.filter(|(k, _)| k.len() <= 1024) {
        payload.push(' ');
        payload.push_str(&hex(k));
        if let Some(v) = value.filter(|v| v.len() <= TOLD_VALUE) {
            payload.push(' ');
            payload.push_str(&hex(v));
        }
    }
    // The time is the database's (one clock for every server): the lag heard is the
    // notification's own, not the difference between two servers' clocks.
    let sql = "SELECT pg_notify($1, replace($2, '{}', (extract(epoch from clock_timestamp()) * 1000000)::int8::text))";
    db.execute(&prepared(db, sql).await?, &[&CHANGES, &payload]).await.map_err(backend_error)?;
    Ok(())
}

pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

/// What [`listen`] heard: how many notifications, and the last one's lag.
#[derive(Default)]
pub(super) struct Heard {
    pub(super) count: std::sync::atomic::AtomicU64,
    pub(super) lag_micros: std::sync::atomic::AtomicU64,
}

/// Listens for the other servers' changes on a connection of its own, and tells `changed` of
/// each table another server wrote. A lost connection is made again after a second; changes
/// made meanwhile were not heard, so `changed` is told of every table (`*`) once it is back.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    tls: impl Connector,
    instance: String,
    changed: ChangeListener,
    heard: Arc<Heard>,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    let mut listening = Some(listening);
    let mut heard_before = false;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                let _ = tx.send(n.payload().to_string());
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client.batch_execute(&format!("LISTEN {CHANGES}")).await.is_ok() {
                    if heard_before {
                        changed(Change { table: "*".into(), key: None, value: None });
                    }
                    heard_before = true;
                    listening.take().map(|l| l.send(()));
                    while let Some(payload) = rx.recv().await {
                        let mut parts = payload.split(' ');
                        let (sender, table, key) = (parts.next(), parts.next(), parts.next().and_then(unhex));
                        let value = parts.next().and_then(unhex);
                        let (from, sent) = sender.and_then(|s| s.split_once('@')).unzip();
                        if let Some(sent) = sent.and_then(|s| s.parse::<i64>().ok()) {
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_micros() as i64);
                            let order = std::sync::atomic::Ordering::Relaxed;
                            heard.lag_micros.store(now.saturating_sub(sent).max(0) as u64, order);
                            heard.count.fetch_add(1, order);
                        }
                        match (from, table) {
                            (Some(from), Some(table)) if from != instance => {
                                changed(Change { table: table.to_string(), key, value })
                            }
                            _ => {}
                        }
                    }
                }
                driver.abort();
                tracing::warn!("the database's change notifications were cut off; listening again");
            }
            Err(e) => tracing::warn!(error = %e, "no connection for the database's change notifications"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The key of a batch that writes one, and its new value.
pub(super) fn only_key(batch: &Batch) -> Option<Written<'_>> {
    let mut writes = batch.writes();
    match (writes.next(), writes.next()) {
        (Some(written), None) => Some(written),
        _ => None,
    }
}
